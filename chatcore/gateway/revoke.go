package gateway

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Membership re-check intervals for live subscriptions. A subscription is a
// membership check that lasts: these bound how long one outlives the
// membership it was granted on when the change notice is lost.
const (
	// sweepEvery re-checks every local subscription against Postgres while
	// the invalidation channel is healthy: a backstop for a notice lost
	// between two instances that both still reach Redis.
	sweepEvery = 30 * time.Second
	// sweepUnhealthy is the re-check period while this instance's
	// invalidation channel is down: no notice can reach it, so Postgres is
	// asked instead.
	sweepUnhealthy = 2 * time.Second
	// sweepChunk caps the pairs checked by one query.
	sweepChunk = 5000
)

// revoker ends live subscriptions whose membership is gone, on whichever
// instance holds them. Every membership change (leave, removal, invite,
// join) is published on the entity caches' invalidation channel, which
// every instance reads whether or not it serves the room; a notice for a
// (room, user) this instance has subscriptions of queues a re-check against
// Postgres (never a cache), and a user who is no longer a member loses
// every subscription to the room here, each with an unsubscribed event.
// Periodic sweeps cover lost notices.
type revoker struct {
	c *Core

	mu      sync.Mutex
	pending map[[2]int64]struct{}
	sweep   bool // re-check every local subscription
	wake    chan struct{}

	cancel context.CancelFunc
	done   chan struct{}
}

func newRevoker(c *Core) *revoker {
	return &revoker{c: c, pending: make(map[[2]int64]struct{}), wake: make(chan struct{}, 1)}
}

// check queues a re-check of the pairs that have local subscriptions. It
// runs on the invalidation channel's reader, so it only queues.
func (r *revoker) check(pairs ...[2]int64) {
	n := 0
	r.mu.Lock()
	for _, p := range pairs {
		if r.c.Hub.HasUser(p[0], p[1]) {
			r.pending[p] = struct{}{}
			n++
		}
	}
	r.mu.Unlock()
	if n > 0 {
		r.poke()
	}
}

// checkAll queues a sweep of every local subscription (after the channel
// was lost or restored: notices may have been missed).
func (r *revoker) checkAll() {
	r.mu.Lock()
	r.sweep = true
	r.mu.Unlock()
	r.poke()
}

func (r *revoker) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *revoker) start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan struct{})
	go r.run(ctx)
}

func (r *revoker) stop() {
	if r.cancel != nil {
		r.cancel()
		<-r.done
	}
}

func (r *revoker) run(ctx context.Context) {
	defer close(r.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-tick.C:
			every := sweepEvery
			if !r.c.caches().bus.Healthy() {
				every = sweepUnhealthy
			}
			if time.Since(last) >= every {
				r.checkAll()
			}
		}
		r.mu.Lock()
		sweep, pending := r.sweep, r.pending
		r.sweep, r.pending = false, make(map[[2]int64]struct{})
		r.mu.Unlock()
		var pairs [][2]int64
		if sweep {
			last = time.Now()
			r.c.Hub.LocalPresence(func(room, user int64) { pairs = append(pairs, [2]int64{room, user}) })
		} else {
			for p := range pending {
				pairs = append(pairs, p)
			}
		}
		if err := r.recheck(ctx, pairs); err != nil && ctx.Err() == nil {
			// Postgres is the truth and cannot answer: keep what we hold
			// (sends and reads fail meanwhile) and ask again next second.
			r.c.log.Warn("gateway: membership re-check failed", zap.Int("subscriptions", len(pairs)), zap.Error(err))
			r.mu.Lock()
			if sweep {
				r.sweep = true
			} else {
				for _, p := range pairs {
					r.pending[p] = struct{}{}
				}
			}
			r.mu.Unlock()
		}
	}
}

// recheck asks Postgres which pairs are memberships and unsubscribes the
// users of the others from their rooms.
func (r *revoker) recheck(ctx context.Context, pairs [][2]int64) error {
	for len(pairs) > 0 {
		n := min(len(pairs), sweepChunk)
		chunk := pairs[:n]
		pairs = pairs[n:]
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := r.c.Store.Memberships(qctx, chunk)
		cancel()
		if err != nil {
			return err
		}
		for _, p := range chunk {
			if ok[p] {
				continue
			}
			if n := r.c.Hub.UnsubscribeUser(p[0], p[1]); n > 0 {
				r.c.log.Debug("gateway: subscriptions revoked", zap.Int64("room", p[0]), zap.Int64("user", p[1]), zap.Int("subscriptions", n))
			}
		}
	}
	return nil
}
