package gateway

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Checks that miss the caches while a query runs wait for one query of
// their own, all of them together; each gets its own answer; a quiet check
// runs at once; an error reaches every caller of its batch.
func TestMemberBatchCoalesces(t *testing.T) {
	var calls atomic.Int64
	release := make(chan struct{})
	var fail atomic.Bool
	var mu sync.Mutex
	var sizes []int
	m := newMemberBatch(func(ctx context.Context, pairs [][2]int64) (map[[2]int64]bool, error) {
		if calls.Add(1) == 1 {
			<-release // the first query is slow: the storm gathers behind it
		}
		mu.Lock()
		sizes = append(sizes, len(pairs))
		mu.Unlock()
		if fail.Load() {
			return nil, errors.New("store down")
		}
		out := make(map[[2]int64]bool)
		for _, p := range pairs {
			if p[1]%2 == 0 { // even users are members
				out[p] = true
			}
		}
		return out, nil
	})
	ctx := context.Background()

	first := make(chan bool)
	go func() {
		ok, _ := m.isMember(ctx, 1, 2)
		first <- ok
	}()
	for calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	const n = 500
	var wg sync.WaitGroup
	wrong := atomic.Int64{}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := m.isMember(ctx, 7, int64(i))
			if err != nil || ok != (i%2 == 0) {
				wrong.Add(1)
			}
		}()
	}
	// Let them all queue behind the running query, then release it.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		m.mu.Lock()
		queued := 0
		if m.next != nil {
			queued = len(m.next.pairs)
		}
		m.mu.Unlock()
		if queued == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d checks queued", queued, n)
		}
	}
	close(release)
	if !<-first {
		t.Fatal("user 2 of room 1: not a member")
	}
	wg.Wait()
	if wrong.Load() > 0 {
		t.Fatalf("%d wrong answers", wrong.Load())
	}
	if c := calls.Load(); c != 2 {
		t.Fatalf("%d queries for %d checks that came during one (sizes %v)", c, n+1, sizes)
	}

	// Quiet: one check, one query, at once.
	before := calls.Load()
	if ok, err := m.isMember(ctx, 3, 4); !ok || err != nil {
		t.Fatalf("quiet check: %v %v", ok, err)
	}
	if calls.Load() != before+1 {
		t.Fatalf("quiet check took %d queries", calls.Load()-before)
	}

	fail.Store(true)
	if _, err := m.isMember(ctx, 3, 4); err == nil {
		t.Fatal("no error from a failing store")
	}
	// A caller that gives up does not wait for the query.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := m.isMember(cctx, 3, 6); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled caller: %v", err)
	}
}
