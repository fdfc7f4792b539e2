package gateway

import (
	"context"
	"sync"
	"time"
)

// memberBatch coalesces the membership checks that miss both cache levels
// into one Store.Memberships query per batch. A miss starts a query at
// once when none is running; misses that come while one runs wait and go
// in the next, together. A quiet instance pays nothing, and a storm (the
// 3,000 clients of a killed gateway subscribing again on this one, the
// cache's entries expiring together, Redis too slow to answer within its
// timeout) costs a few queries rather than one per client through a pool
// of 16 connections: the one-by-one queries are what took seconds and
// failed subscribes in bench-cluster's case h.
type memberBatch struct {
	load func(ctx context.Context, pairs [][2]int64) (map[[2]int64]bool, error)

	mu      sync.Mutex
	running bool
	next    *memberQuery // what the next query asks, nil: nothing waits
}

// memberQuery is one batch: the pairs asked, and its answer once done is
// closed.
type memberQuery struct {
	pairs map[[2]int64]struct{}
	done  chan struct{}
	res   map[[2]int64]bool
	err   error
}

// memberBatchMax caps the pairs of one query (as the revoker's sweeps); a
// larger batch takes several, one after the other.
const memberBatchMax = sweepChunk

func newMemberBatch(load func(ctx context.Context, pairs [][2]int64) (map[[2]int64]bool, error)) *memberBatch {
	return &memberBatch{load: load}
}

// isMember reports whether user belongs to room, from a query that starts
// after this call (never one already running, which may predate a change
// the caller has seen).
func (m *memberBatch) isMember(ctx context.Context, room, user int64) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	p := [2]int64{room, user}
	m.mu.Lock()
	if m.next == nil {
		m.next = &memberQuery{pairs: make(map[[2]int64]struct{}), done: make(chan struct{})}
	}
	q := m.next
	q.pairs[p] = struct{}{}
	if !m.running {
		m.running, m.next = true, nil
		go m.run(q)
	}
	m.mu.Unlock()
	select {
	case <-q.done:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	if q.err != nil {
		return false, q.err
	}
	return q.res[p], nil
}

// run answers q, then the batch that gathered meanwhile, if any.
func (m *memberBatch) run(q *memberQuery) {
	for q != nil {
		pairs := make([][2]int64, 0, len(q.pairs))
		for p := range q.pairs {
			pairs = append(pairs, p)
		}
		q.res = make(map[[2]int64]bool, len(pairs))
		for len(pairs) > 0 && q.err == nil {
			n := min(len(pairs), memberBatchMax)
			// The query serves many callers: none of their contexts
			// bounds it.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			var part map[[2]int64]bool
			part, q.err = m.load(ctx, pairs[:n])
			cancel()
			for p, ok := range part {
				q.res[p] = ok
			}
			pairs = pairs[n:]
		}
		close(q.done)
		m.mu.Lock()
		q, m.next = m.next, nil
		m.running = q != nil
		m.mu.Unlock()
	}
}
