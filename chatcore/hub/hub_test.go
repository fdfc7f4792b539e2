package hub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/chatgate/chatgate/chatcore"
	"github.com/chatgate/chatgate/chatcore/hub"
	"github.com/chatgate/chatgate/chatcore/store"
	"github.com/chatgate/chatgate/chatcore/wire"
)

// The hub is tested against the real store: rooms and messages live in
// Postgres, and the hub reads them for initialisation, replays and gaps.

func testStore(t testing.TB) *store.Store {
	t.Helper()
	dsn := os.Getenv("CHATGATE_TEST_POSTGRES_HUB")
	if dsn == "" {
		dsn = "postgres://postgres@127.0.0.1:5432/chatgate_test_hub?sslmode=disable"
	}
	st, err := store.New(store.Config{DSN: dsn, MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}

// seedRoom creates a room with n stored messages and returns them.
func seedRoom(t testing.TB, st *store.Store, n int) (int64, []chatcore.Message) {
	t.Helper()
	ctx := context.Background()
	u, err := st.CreateUser(ctx, "hubtest", fmt.Sprintf("hub.%d@example.test", time.Now().UnixNano()), "x")
	if err != nil {
		t.Fatal(err)
	}
	room, err := st.CreateRoom(ctx, u.ID, "hub", false)
	if err != nil {
		t.Fatal(err)
	}
	b := st.NewBatcher(nil)
	b.Start()
	defer b.Stop(ctx)
	var msgs []chatcore.Message
	for i := 0; i < n; i++ {
		res := b.Send(ctx, store.SendRequest{Room: room.ID, UserID: u.ID, UserName: u.Name, Body: fmt.Sprint("m", i+1)})
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		msgs = append(msgs, res.Msg)
	}
	return room.ID, msgs
}

// sink is a Subscriber that records the seqs it is handed.
type sink struct {
	mu     sync.Mutex
	seqs   []int64
	events []string
	user   int64
	got    chan struct{}
}

func newSink(user int64) *sink { return &sink{user: user, got: make(chan struct{}, 1<<16)} }

func (s *sink) Enqueue(f *wire.Frame) bool {
	var e struct {
		Type string `json:"type"`
		Seq  int64  `json:"seq"`
	}
	_ = json.Unmarshal(f.Data, &e)
	s.mu.Lock()
	s.events = append(s.events, e.Type)
	if e.Type == "message" {
		s.seqs = append(s.seqs, e.Seq)
	}
	s.mu.Unlock()
	s.got <- struct{}{}
	return true
}
func (s *sink) WaitRoom(context.Context) error { return nil }

func (s *sink) Fits(int, int) bool { return true }
func (s *sink) UserID() int64      { return s.user }

func (s *sink) waitSeqs(t *testing.T, n int) []int64 {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		s.mu.Lock()
		if len(s.seqs) >= n {
			out := append([]int64(nil), s.seqs...)
			s.mu.Unlock()
			return out
		}
		s.mu.Unlock()
		select {
		case <-s.got:
		case <-deadline:
			s.mu.Lock()
			defer s.mu.Unlock()
			t.Fatalf("got seqs %v, want %d", s.seqs, n)
		}
	}
}

func contiguous(t *testing.T, seqs []int64, from, to int64) {
	t.Helper()
	if int64(len(seqs)) != to-from+1 {
		t.Fatalf("seqs %v, want %d..%d", seqs, from, to)
	}
	for i, s := range seqs {
		if s != from+int64(i) {
			t.Fatalf("seqs %v, want %d..%d", seqs, from, to)
		}
	}
}

// TestOrderDuplicatesAndGaps: messages arriving out of order, twice, or
// never (lost on the bus) still reach subscribers once each, in order.
func TestOrderDuplicatesAndGaps(t *testing.T) {
	st := testStore(t)
	room, msgs := seedRoom(t, st, 10)
	h := hub.New(st, hub.Config{GapGrace: 10 * time.Millisecond})
	defer h.Close()
	s := newSink(0)
	since := int64(0)
	if _, err := h.Subscribe(context.Background(), s, room, &since); err != nil {
		t.Fatal(err)
	}
	contiguous(t, s.waitSeqs(t, 10), 1, 10) // replayed from the store

	more := seedMore(t, st, room, 10) // seq 11..20, stored but not yet delivered
	now := time.Now()
	// Out of order, with duplicates, and seq 15 never delivered by the bus.
	for _, i := range []int{1, 0, 3, 2, 2, 5, 6, 7, 9, 8, 0, 3} {
		h.Deliver(&more[i], now)
	}
	h.Deliver(&msgs[4], now) // an old duplicate
	contiguous(t, s.waitSeqs(t, 20), 1, 20)
	time.Sleep(50 * time.Millisecond)
	contiguous(t, s.waitSeqs(t, 20), 1, 20) // nothing more arrived
}

func seedMore(t *testing.T, st *store.Store, room int64, n int) []chatcore.Message {
	t.Helper()
	ctx := context.Background()
	last, err := st.LastSeq(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	b := st.NewBatcher(nil)
	b.Start()
	defer b.Stop(ctx)
	var out []chatcore.Message
	for i := 0; i < n; i++ {
		res := b.Send(ctx, store.SendRequest{Room: room, UserID: 1, UserName: "x", Body: fmt.Sprint("more", i)})
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		out = append(out, res.Msg)
	}
	if out[0].Seq != last+1 {
		t.Fatalf("seeded from %d, last was %d", out[0].Seq, last)
	}
	return out
}

// TestSubscribeDuringTraffic: a subscriber joining with since while
// messages keep arriving sees every message once, across the seam between
// replay and live delivery.
func TestSubscribeDuringTraffic(t *testing.T) {
	st := testStore(t)
	room, _ := seedRoom(t, st, 300) // more than the ring: the store serves the replay
	h := hub.New(st, hub.Config{RecentSize: 16, ReplayPage: 50})
	defer h.Close()
	first := newSink(0)
	if _, err := h.Subscribe(context.Background(), first, room, nil); err != nil {
		t.Fatal(err)
	}
	more := seedMore(t, st, room, 100) // 301..400
	done := make(chan struct{})
	go func() {
		for i := range more {
			h.Deliver(&more[i], time.Now())
			if i%10 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		close(done)
	}()
	late := newSink(0)
	since := int64(0)
	if _, err := h.Subscribe(context.Background(), late, room, &since); err != nil {
		t.Fatal(err)
	}
	<-done
	contiguous(t, late.waitSeqs(t, 400), 1, 400)
	contiguous(t, first.waitSeqs(t, 100), 301, 400)
	if late.events[0] != "subscribed" {
		t.Fatalf("first event %q, want subscribed", late.events[0])
	}
}

// TestTypingSkipsAuthor and unsubscribe semantics.
func TestTypingAndUnsubscribe(t *testing.T) {
	st := testStore(t)
	room, _ := seedRoom(t, st, 1)
	h := hub.New(st, hub.Config{})
	defer h.Close()
	idle := 0
	h.OnRoomIdle = func(int64) { idle++ }
	a, b := newSink(1), newSink(2)
	for _, s := range []*sink{a, b} {
		if _, err := h.Subscribe(context.Background(), s, room, nil); err != nil {
			t.Fatal(err)
		}
	}
	h.Typing(room, 1)
	time.Sleep(10 * time.Millisecond)
	if fmt.Sprint(a.events) != "[subscribed]" || fmt.Sprint(b.events) != "[subscribed typing]" {
		t.Fatalf("a %v b %v", a.events, b.events)
	}
	h.Unsubscribe(a, room)
	if h.Rooms() != 1 || idle != 0 {
		t.Fatalf("rooms %d idle %d", h.Rooms(), idle)
	}
	h.UnsubscribeUser(room, 2)
	if h.Rooms() != 0 || idle != 1 {
		t.Fatalf("after last unsubscribe: rooms %d idle %d", h.Rooms(), idle)
	}
}
