package gateway

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatgate/chatgate/chatcore"
	"github.com/chatgate/chatgate/chatcore/store"
)

// roundLog is an invalidator's bump that records its rounds; while gate is
// open (non-nil and not closed) the first round waits on it.
type roundLog struct {
	mu     sync.Mutex
	rounds [][]int64
	gate   chan struct{}
	once   sync.Once
	held   chan struct{}
}

func (l *roundLog) bump(rooms, _ []int64) {
	l.mu.Lock()
	l.rounds = append(l.rounds, slices.Clone(rooms))
	l.mu.Unlock()
	if l.gate != nil {
		l.once.Do(func() { close(l.held); <-l.gate })
	}
}

func (l *roundLog) bumpsOf(room int64) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.rounds {
		if slices.Contains(r, room) {
			n++
		}
	}
	return n
}

func mark(v *invalidator, msgs ...chatcore.Message) {
	v.mu.Lock()
	v.markLocked(msgs)
	v.mu.Unlock()
}

func waitIdle(t *testing.T, v *invalidator) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v.idle(ctx)
	if ctx.Err() != nil {
		t.Fatal("invalidator never went idle")
	}
}

// TestInvalidatorCoalesces: 1,000 sends to one room while a round is
// running are one more bump, not 1,000; then the invalidator goes idle.
func TestInvalidatorCoalesces(t *testing.T) {
	l := &roundLog{gate: make(chan struct{}), held: make(chan struct{})}
	v := newInvalidator(l.bump)
	mark(v, chatcore.Message{Room: 1, Seq: 1})
	<-l.held // the first round is running, and blocked
	for i := range 1000 {
		mark(v, chatcore.Message{Room: 2, Seq: int64(i + 1)})
	}
	close(l.gate)
	waitIdle(t, v)
	if n := l.bumpsOf(2); n != 1 {
		t.Fatalf("room 2 bumped %d times for a burst of 1,000: %v", n, l.rounds)
	}
	if len(l.rounds) != 2 {
		t.Fatalf("rounds %v, want [[1] [2]]", l.rounds)
	}
}

// TestInvalidatorWaiters: a waiter is released by the round that bumps
// its room for its seq or a later one, not by an earlier one.
func TestInvalidatorWaiters(t *testing.T) {
	l := &roundLog{gate: make(chan struct{}), held: make(chan struct{})}
	v := newInvalidator(l.bump)
	v.mu.Lock()
	early := v.visibleLocked(5, 3)
	late := v.visibleLocked(5, 4)
	other := v.visibleLocked(6, 1)
	v.markLocked([]chatcore.Message{{Room: 5, Seq: 3}})
	v.mu.Unlock()
	<-l.held
	closed := func(c <-chan struct{}) bool {
		select {
		case <-c:
			return true
		default:
			return false
		}
	}
	if closed(early) {
		t.Fatal("released before its round finished")
	}
	close(l.gate)
	select {
	case <-early:
	case <-time.After(5 * time.Second):
		t.Fatal("seq 3 never released")
	}
	time.Sleep(20 * time.Millisecond)
	if closed(late) || closed(other) {
		t.Fatal("a round for seq 3 of room 5 released seq 4, or room 6")
	}
	mark(v, chatcore.Message{Room: 5, Seq: 4}, chatcore.Message{Room: 6, Seq: 1})
	for _, c := range []<-chan struct{}{late, other} {
		select {
		case <-c:
		case <-time.After(5 * time.Second):
			t.Fatal("never released")
		}
	}
}

// tagCounter is a response cache that counts the bumps of each tag; while
// gate is set, its first bump of a room tag waits for it to close.
type tagCounter struct {
	mu   sync.Mutex
	tags map[string]int
	gate chan struct{}
	held chan struct{}
	once sync.Once
}

func newTagCounter() *tagCounter { return &tagCounter{tags: map[string]int{}} }

func (c *tagCounter) Invalidate(_ context.Context, tags ...string) error {
	c.mu.Lock()
	room := false
	for _, tag := range tags {
		c.tags[tag]++
		room = room || strings.HasPrefix(tag, "room:")
	}
	gate := c.gate
	c.mu.Unlock()
	if gate != nil && room {
		c.once.Do(func() { close(c.held); <-gate })
	}
	return nil
}

func (c *tagCounter) count(tag string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tags[tag]
}

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for start := time.Now(); !cond(); time.Sleep(time.Millisecond) {
		if time.Since(start) > 5*time.Second {
			t.Fatal(what)
		}
	}
}

var invUserSeq atomic.Int64

// invFixture is an instance without Redis, a counting response cache, and
// a user owning a room.
func invFixture(t *testing.T) (*instance, *tagCounter, chatcore.User, int64) {
	in := startInstance(t, "inv", nil)
	t.Cleanup(in.core.StopCaches)
	tc := newTagCounter()
	t.Cleanup(in.core.AddTagInvalidator("count", tc))
	ctx := context.Background()
	u, err := in.core.Store.CreateUser(ctx, "Inv", fmt.Sprintf("inv.%d.%d@test", time.Now().UnixNano(), invUserSeq.Add(1)), "x")
	if err != nil {
		t.Fatal(err)
	}
	room, err := in.core.Store.CreateRoom(ctx, u.ID, "inv", false)
	if err != nil {
		t.Fatal(err)
	}
	return in, tc, u, room.ID
}

func (in *instance) post(t *testing.T, u chatcore.User, room int64, body string) int {
	t.Helper()
	tok, _ := in.core.Signer.Issue(u.ID, u.Name)
	req, _ := http.NewRequest("POST", fmt.Sprintf("%s/api/rooms/%d/messages", in.srv.URL, room),
		strings.NewReader(fmt.Sprintf(`{"body":%q,"cid":%q}`, body, body)))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestRESTSendInvalidatesOnce: the room's tag is bumped before the 201,
// and only once (it was bumped by the handler and again by the commit).
func TestRESTSendInvalidatesOnce(t *testing.T) {
	in, tc, u, room := invFixture(t)
	tag := tagRoom(room)
	if st := in.post(t, u, room, "one"); st != http.StatusCreated {
		t.Fatalf("post: %d", st)
	}
	if n := tc.count(tag); n != 1 {
		t.Fatalf("%s bumped %d times by the 201, want 1", tag, n)
	}
	if got, err := in.core.cachedRoom(context.Background(), room); err != nil || got.MessageCount != 1 {
		t.Fatalf("message_count after the 201: %+v %v", got, err)
	}
	time.Sleep(100 * time.Millisecond)
	if n := tc.count(tag); n != 1 {
		t.Fatalf("%s bumped %d times, want 1", tag, n)
	}
}

// TestInvalidationSurvivesPublishOverflow: with the publish queue full,
// messages are dropped from the bus, never their invalidation.
func TestInvalidationSurvivesPublishOverflow(t *testing.T) {
	in, tc, u, room := invFixture(t)
	var dropped atomic.Int64
	p := in.core.pub
	p.mu.Lock()
	p.limit = 0 // every add overflows
	p.drop = func(n int) { dropped.Add(int64(n)) }
	p.mu.Unlock()
	ctx := context.Background()
	// A WebSocket-style send (no waiting) and a REST one.
	res := in.core.Batcher.Send(ctx, store.SendRequest{Room: room, UserID: u.ID, Body: "ws", CID: "ws"})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	eventually(t, "no invalidation after a dropped publish", func() bool { return tc.count(tagRoom(room)) == 1 })
	if st := in.post(t, u, room, "rest"); st != http.StatusCreated {
		t.Fatalf("post: %d", st)
	}
	if n := tc.count(tagRoom(room)); n != 2 {
		t.Fatalf("%d bumps after two sends, want 2", n)
	}
	// The publish follows the invalidation (core.go committed), so the 201
	// may come before the second drop.
	eventually(t, "both messages dropped from the bus", func() bool { return dropped.Load() == 2 })
}

// TestInvalidationBurstOneBump: 1,000 sends to one room while a bump is
// running cost one more bump, and the count is fresh after it.
func TestInvalidationBurstOneBump(t *testing.T) {
	in, tc, u, room := invFixture(t)
	tc.mu.Lock()
	tc.gate, tc.held = make(chan struct{}), make(chan struct{})
	tc.mu.Unlock()
	b := in.core.Batcher
	if res := b.Send(context.Background(), store.SendRequest{Room: room, UserID: u.ID, Body: "first"}); res.Err != nil {
		t.Fatal(res.Err)
	}
	<-tc.held // its bump is running, and blocked
	var wg sync.WaitGroup
	for i := range 1000 {
		wg.Add(1)
		err := b.Submit(store.SendRequest{Room: room, UserID: u.ID, Body: fmt.Sprint("burst ", i)}, func(r store.SendResult) {
			if r.Err != nil {
				t.Error(r.Err)
			}
			wg.Done()
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	time.Sleep(50 * time.Millisecond) // the last flush's commit callback
	close(tc.gate)
	eventually(t, "the burst never bumped", func() bool { return tc.count(tagRoom(room)) >= 2 })
	time.Sleep(100 * time.Millisecond)
	if n := tc.count(tagRoom(room)); n != 2 {
		t.Fatalf("%d bumps for 1 + 1,000 sends, want 2", n)
	}
	if got, err := in.core.cachedRoom(context.Background(), room); err != nil || got.MessageCount != 1001 {
		t.Fatalf("message_count after the burst: %+v %v", got, err)
	}
}
