package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatgate/chatgate/chatcore"
)

// collector records onCommit deliveries and checks each call is in seq order
// per room.
type collector struct {
	mu    sync.Mutex
	msgs  map[[2]int64]chatcore.Message // (room, seq)
	calls int
	errs  []string
}

func newCollector() *collector { return &collector{msgs: map[[2]int64]chatcore.Message{}} }

func (c *collector) onCommit(msgs []chatcore.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	last := map[int64]int64{}
	for _, m := range msgs {
		if prev, ok := last[m.Room]; ok && m.Seq != prev+1 {
			c.errs = append(c.errs, fmt.Sprintf("room %d: seq %d after %d in one call", m.Room, m.Seq, prev))
		}
		last[m.Room] = m.Seq
		k := [2]int64{m.Room, m.Seq}
		if _, dup := c.msgs[k]; dup {
			c.errs = append(c.errs, fmt.Sprintf("room %d seq %d delivered twice", m.Room, m.Seq))
		}
		c.msgs[k] = m
	}
}

// checkRoom verifies the stored rows of room are exactly seq 1..n and match
// the acks.
func checkRoom(t *testing.T, s *Store, room int64, acks map[int64]chatcore.Message) {
	t.Helper()
	ctx := ctxT(t)
	last, err := s.LastSeq(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	if last != int64(len(acks)) {
		t.Fatalf("room %d: last_seq %d, %d acks", room, last, len(acks))
	}
	var stored []chatcore.Message
	for from := int64(1); from <= last; from += maxRange {
		part, err := s.Range(ctx, room, from, last)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, part...)
	}
	if int64(len(stored)) != last {
		t.Fatalf("room %d: %d rows for last_seq %d", room, len(stored), last)
	}
	for i, m := range stored {
		if m.Seq != int64(i+1) {
			t.Fatalf("room %d: row %d has seq %d (gap or duplicate)", room, i, m.Seq)
		}
		a, ok := acks[m.Seq]
		if !ok || a.Body != m.Body || a.User.ID != m.User.ID || a.CID != m.CID || !a.TS.Equal(m.TS) {
			t.Fatalf("room %d seq %d: ack %+v, stored %+v", room, m.Seq, a, m)
		}
	}
}

func testSeqContiguous(t *testing.T, tune func(*Batcher)) {
	reset(t)
	s := testStore
	u := mkUser(t, s, "ann")
	var rooms []int64
	for i := 0; i < 3; i++ {
		rooms = append(rooms, mkRoom(t, s, u.ID, fmt.Sprintf("r%d", i), false).ID)
	}
	col := newCollector()
	b := s.NewBatcher(col.onCommit)
	tune(b)
	b.Start()

	const workers, per = 20, 200
	var mu sync.Mutex
	acks := map[int64]map[int64]chatcore.Message{}
	for _, r := range rooms {
		acks[r] = map[int64]chatcore.Message{}
	}
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := ctxT(t)
			for i := 0; i < per; i++ {
				req := SendRequest{Room: rooms[(w+i)%len(rooms)], UserID: u.ID, UserName: "ann", Body: fmt.Sprintf("w%d-%d", w, i)}
				if i%2 == 0 {
					req.CID = fmt.Sprintf("c-%d-%d", w, i)
				}
				res := b.Send(ctx, req)
				if res.Err != nil || res.Duplicate || res.Msg.Seq <= 0 || res.Msg.Body != req.Body || res.Msg.CID != req.CID {
					errc <- fmt.Errorf("send %+v: %+v", req, res)
					return
				}
				mu.Lock()
				if prev, dup := acks[req.Room][res.Msg.Seq]; dup {
					mu.Unlock()
					errc <- fmt.Errorf("seq %d acked twice: %+v and %+v", res.Msg.Seq, prev, res.Msg)
					return
				}
				acks[req.Room][res.Msg.Seq] = res.Msg
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if err := b.Stop(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, r := range rooms {
		checkRoom(t, s, r, acks[r])
		total += len(acks[r])
	}
	if total != workers*per {
		t.Fatalf("%d acks, want %d", total, workers*per)
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	if len(col.errs) > 0 || len(col.msgs) != total {
		t.Fatalf("onCommit: %d messages, errors %v", len(col.msgs), col.errs)
	}
	t.Logf("%d messages in %d flushes", total, col.calls)
}

func TestBatcherSeqContiguous(t *testing.T) { testSeqContiguous(t, func(*Batcher) {}) }

// The benchmark's alternative write paths must be just as correct.
func TestBatcherSeqContiguousAlternatives(t *testing.T) {
	t.Run("copyfrom", func(t *testing.T) { testSeqContiguous(t, func(b *Batcher) { b.write = writeCopy }) })
	t.Run("update-per-room+precheck", func(t *testing.T) {
		testSeqContiguous(t, func(b *Batcher) { b.write, b.precheck = writePerRoom, true })
	})
}

func TestBatcherIdempotentSequential(t *testing.T) {
	for _, precheck := range []bool{true, false} {
		t.Run(fmt.Sprintf("precheck=%v", precheck), func(t *testing.T) {
			reset(t)
			s := testStore
			u := mkUser(t, s, "ann")
			r := mkRoom(t, s, u.ID, "r", false)
			col := newCollector()
			b := s.NewBatcher(col.onCommit)
			b.precheck = precheck
			b.Start()
			defer b.Stop(context.Background()) //nolint:errcheck
			ctx := ctxT(t)
			first := b.Send(ctx, SendRequest{Room: r.ID, UserID: u.ID, Body: "hello", CID: "abc"})
			// The retry carries a different body: the stored message wins.
			second := b.Send(ctx, SendRequest{Room: r.ID, UserID: u.ID, Body: "hello again", CID: "abc"})
			if first.Err != nil || first.Duplicate || second.Err != nil || !second.Duplicate {
				t.Fatalf("first %+v second %+v", first, second)
			}
			if second.Msg.Seq != first.Msg.Seq || second.Msg.Body != "hello" || !second.Msg.TS.Equal(first.Msg.TS) {
				t.Fatalf("duplicate answered with %+v, want %+v", second.Msg, first.Msg)
			}
			// A new message still gets the next seq: no gap from the rollback.
			third := b.Send(ctx, SendRequest{Room: r.ID, UserID: u.ID, Body: "next", CID: "def"})
			if third.Err != nil || third.Msg.Seq != 2 {
				t.Fatalf("third %+v", third)
			}
			// Same cid from another user is a different message.
			bob := mkUser(t, s, "bob")
			other := b.Send(ctx, SendRequest{Room: r.ID, UserID: bob.ID, Body: "bob", CID: "abc"})
			if other.Err != nil || other.Duplicate || other.Msg.Seq != 3 {
				t.Fatalf("other user %+v", other)
			}
			if err := b.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			if !precheck && b.retries.Load() == 0 {
				t.Fatal("optimistic mode should have retried after the unique violation")
			}
			col.mu.Lock()
			defer col.mu.Unlock()
			if len(col.msgs) != 3 {
				t.Fatalf("onCommit saw %d messages, want 3 (duplicates excluded)", len(col.msgs))
			}
		})
	}
}

// submitAll queues reqs before the flushers run, so they land in one flush.
func submitAll(t *testing.T, b *Batcher, reqs []SendRequest) []SendResult {
	t.Helper()
	res := make([]SendResult, len(reqs))
	var wg sync.WaitGroup
	for i, req := range reqs {
		wg.Add(1)
		if err := b.Submit(req, func(r SendResult) { res[i] = r; wg.Done() }); err != nil {
			t.Fatal(err)
		}
	}
	b.Start()
	wg.Wait()
	return res
}

func TestBatcherIdempotentSameBatch(t *testing.T) {
	reset(t)
	s := testStore
	u := mkUser(t, s, "ann")
	r := mkRoom(t, s, u.ID, "r", false)
	col := newCollector()
	b := s.NewBatcher(col.onCommit)
	defer b.Stop(context.Background()) //nolint:errcheck
	res := submitAll(t, b, []SendRequest{
		{Room: r.ID, UserID: u.ID, Body: "a", CID: "x"},
		{Room: r.ID, UserID: u.ID, Body: "b", CID: "y"},
		{Room: r.ID, UserID: u.ID, Body: "a again", CID: "x"},
		{Room: r.ID, UserID: u.ID, Body: "no cid"},
		{Room: r.ID, UserID: u.ID, Body: "no cid"},
	})
	want := []struct {
		seq int64
		dup bool
	}{{1, false}, {2, false}, {1, true}, {3, false}, {4, false}}
	for i, w := range want {
		if res[i].Err != nil || res[i].Msg.Seq != w.seq || res[i].Duplicate != w.dup {
			t.Fatalf("result %d: %+v, want seq %d dup %v", i, res[i], w.seq, w.dup)
		}
	}
	if res[2].Msg.Body != "a" {
		t.Fatalf("in-batch duplicate answered with %+v", res[2].Msg)
	}
	if err := b.Stop(ctxT(t)); err != nil { // onCommit runs after the acks: wait for it
		t.Fatal(err)
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	if col.calls != 1 || len(col.msgs) != 4 {
		t.Fatalf("onCommit: %d calls, %d messages", col.calls, len(col.msgs))
	}
}

func TestBatcherTwoInstancesRace(t *testing.T) {
	reset(t)
	u := mkUser(t, testStore, "ann")
	var rooms []int64
	for i := 0; i < 2; i++ {
		rooms = append(rooms, mkRoom(t, testStore, u.ID, fmt.Sprintf("r%d", i), false).ID)
	}
	// Two stores = two instances, each with its own pool and batcher; one of
	// them skips the pre-check so the unique-violation retry path is hit.
	var bs []*Batcher
	for i := 0; i < 2; i++ {
		b := newStore(t, Config{MaxConns: 3}).NewBatcher(nil)
		b.precheck = i == 0
		b.Start()
		bs = append(bs, b)
	}
	const cids = 150
	results := make([][]SendResult, cids)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, b := range bs {
		for g := 0; g < 3; g++ { // several senders per instance, same cids
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx := ctxT(t)
				for c := 0; c < cids; c++ {
					req := SendRequest{Room: rooms[c%2], UserID: u.ID, Body: fmt.Sprintf("m%d", c), CID: fmt.Sprintf("cid-%d", c)}
					res := b.Send(ctx, req)
					mu.Lock()
					results[c] = append(results[c], res)
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	for _, b := range bs {
		if err := b.Stop(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	}
	acks := map[int64]map[int64]chatcore.Message{rooms[0]: {}, rooms[1]: {}}
	for c, rs := range results {
		fresh := 0
		for _, r := range rs {
			if r.Err != nil {
				t.Fatalf("cid %d: %v", c, r.Err)
			}
			if !r.Duplicate {
				fresh++
			}
			if r.Msg.Seq != rs[0].Msg.Seq || r.Msg.Room != rs[0].Msg.Room {
				t.Fatalf("cid %d answered with different messages: %+v vs %+v", c, r.Msg, rs[0].Msg)
			}
		}
		if fresh != 1 {
			t.Fatalf("cid %d stored %d times", c, fresh)
		}
		acks[rs[0].Msg.Room][rs[0].Msg.Seq] = rs[0].Msg
	}
	for _, r := range rooms {
		checkRoom(t, testStore, r, acks[r])
	}
	t.Logf("flush retries after unique violations: %d and %d", bs[0].retries.Load(), bs[1].retries.Load())
}

func TestBatcherUnknownRoom(t *testing.T) {
	reset(t)
	s := testStore
	u := mkUser(t, s, "ann")
	r := mkRoom(t, s, u.ID, "r", false)
	col := newCollector()
	b := s.NewBatcher(col.onCommit)
	defer b.Stop(context.Background()) //nolint:errcheck
	res := submitAll(t, b, []SendRequest{
		{Room: r.ID, UserID: u.ID, Body: "ok 1", CID: "1"},
		{Room: 424242, UserID: u.ID, Body: "lost", CID: "2"},
		{Room: r.ID + 1000, UserID: u.ID, Body: "lost too"},
		{Room: r.ID, UserID: u.ID, Body: "ok 2", CID: "3"},
	})
	for i, wantSeq := range []int64{1, 0, 0, 2} {
		if wantSeq == 0 {
			if !errors.Is(res[i].Err, chatcore.ErrNotFound) {
				t.Fatalf("result %d: want ErrNotFound, got %+v", i, res[i])
			}
			continue
		}
		if res[i].Err != nil || res[i].Msg.Seq != wantSeq {
			t.Fatalf("result %d: %+v", i, res[i])
		}
	}
	// The failed cid is not burnt.
	if got := b.Send(ctxT(t), SendRequest{Room: r.ID, UserID: u.ID, Body: "retry", CID: "2"}); got.Err != nil || got.Duplicate || got.Msg.Seq != 3 {
		t.Fatalf("retry after not found: %+v", got)
	}
	if err := b.Stop(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	if len(col.msgs) != 3 {
		t.Fatalf("onCommit saw %d", len(col.msgs))
	}
}

func TestBatcherStopFlushesQueue(t *testing.T) {
	reset(t)
	s := testStore
	u := mkUser(t, s, "ann")
	r := mkRoom(t, s, u.ID, "r", false)
	b := s.NewBatcher(nil)
	b.Start()
	const n = 1000
	var done atomic.Int64
	var failed atomic.Int64
	for i := 0; i < n; i++ {
		err := b.Submit(SendRequest{Room: r.ID, UserID: u.ID, Body: "x"}, func(res SendResult) {
			if res.Err != nil {
				failed.Add(1)
			}
			done.Add(1)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Stop(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if done.Load() != n || failed.Load() != 0 {
		t.Fatalf("after Stop: %d done, %d failed", done.Load(), failed.Load())
	}
	if last, _ := s.LastSeq(ctxT(t), r.ID); last != n {
		t.Fatalf("last_seq %d", last)
	}
	if err := b.Submit(SendRequest{Room: r.ID, UserID: u.ID, Body: "late"}, nil); !errors.Is(err, chatcore.ErrUnavailable) {
		t.Fatalf("submit after stop: %v", err)
	}
	if res := b.Send(ctxT(t), SendRequest{Room: r.ID, UserID: u.ID, Body: "late"}); !errors.Is(res.Err, chatcore.ErrUnavailable) {
		t.Fatalf("send after stop: %v", res.Err)
	}
	if err := b.Stop(ctxT(t)); err != nil { // idempotent
		t.Fatal(err)
	}

	// Stop without Start still drains.
	b2 := s.NewBatcher(nil)
	var got SendResult
	if err := b2.Submit(SendRequest{Room: r.ID, UserID: u.ID, Body: "y"}, func(res SendResult) { got = res }); err != nil {
		t.Fatal(err)
	}
	if err := b2.Stop(ctxT(t)); err != nil || got.Err != nil || got.Msg.Seq != n+1 {
		t.Fatalf("stop without start: %v %+v", err, got)
	}
}

func TestBatcherQueueFullAndInvalid(t *testing.T) {
	reset(t)
	s := newStore(t, Config{BatchQueue: 4, BatchWorkers: 1})
	b := s.NewBatcher(nil) // not started: the queue only fills
	for i := 0; i < 4; i++ {
		if err := b.Submit(SendRequest{Room: 1, UserID: 1, Body: "x"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Submit(SendRequest{Room: 1, UserID: 1, Body: "x"}, nil); !errors.Is(err, chatcore.ErrUnavailable) {
		t.Fatalf("full queue: %v", err)
	}
	for _, bad := range []SendRequest{{Body: "nul\x00byte"}, {Body: "bad \xff utf8"}, {Body: "ok", CID: "\x00"}} {
		if err := b.Submit(bad, nil); !errors.Is(err, ErrInvalidText) {
			t.Fatalf("%q: %v", bad.Body, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Stop(ctx); err != nil { // the queued four fail with ErrNotFound (room 1 does not exist)
		t.Fatal(err)
	}
}
