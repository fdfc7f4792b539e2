package socket

import (
	"context"
	"sync"
	"time"
)

const registryShards = 32

// Registry tracks live connections: one heartbeat goroutine pings them all
// (rather than a timer per connection), and a drain closes them in paced
// batches.
type Registry struct {
	shards [registryShards]struct {
		mu    sync.Mutex
		conns map[*Conn]struct{}
	}
	next   sync.Mutex
	cursor uint64
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	r := &Registry{}
	for i := range r.shards {
		r.shards[i].conns = make(map[*Conn]struct{})
	}
	return r
}

// Add registers c; it returns a function that removes it.
func (r *Registry) Add(c *Conn) func() {
	r.next.Lock()
	i := r.cursor % registryShards
	r.cursor++
	r.next.Unlock()
	s := &r.shards[i]
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}
}

// Len is the number of live connections.
func (r *Registry) Len() int {
	n := 0
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		n += len(s.conns)
		s.mu.Unlock()
	}
	return n
}

func (r *Registry) snapshot(i int) []*Conn {
	s := &r.shards[i]
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}

// Heartbeat pings every connection once per interval, one shard per tick so
// the pings, and the pongs they bring back, are spread over the interval;
// a connection whose credentials have expired (SetExpiry) is closed instead.
func (r *Registry) Heartbeat(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval / registryShards)
	defer t.Stop()
	for i := 0; ; i = (i + 1) % registryShards {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		for _, c := range r.snapshot(i) {
			if c.expired(now) {
				c.Abort(c.expiredCode, c.expiredReason)
				continue
			}
			c.Ping()
		}
	}
}

// CloseAll closes every connection with code, batch at a time with pause in
// between, so a drain does not turn into a reconnect storm elsewhere. It
// returns when all are closed or ctx ends (the rest are then aborted).
func (r *Registry) CloseAll(ctx context.Context, code int, reason string, batch int, pause time.Duration) {
	if batch <= 0 {
		batch = 128
	}
	var all []*Conn
	for i := range r.shards {
		all = append(all, r.snapshot(i)...)
	}
	for start := 0; start < len(all); start += batch {
		end := min(start+batch, len(all))
		for _, c := range all[start:end] {
			c.CloseWith(code, reason)
		}
		if end < len(all) && pause > 0 {
			select {
			case <-time.After(pause):
			case <-ctx.Done():
				for _, c := range all[end:] {
					c.Abort(code, reason)
				}
				return
			}
		}
	}
	// Give the queued close frames a moment to go out, then cut the rest.
	deadline := time.NewTimer(2 * time.Second)
	defer deadline.Stop()
	expired := false
	for _, c := range all {
		if !expired {
			select {
			case <-c.Done():
				continue
			case <-deadline.C:
			case <-ctx.Done():
			}
			expired = true
		}
		c.Abort(code, reason)
	}
}
