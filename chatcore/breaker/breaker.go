// Package breaker skips a failing dependency for a while instead of
// paying its timeout on every call: after Threshold failures in a row it
// opens for Cooldown, then lets one probe through (half-open); the probe's
// outcome closes or reopens it. It is the one circuit breaker of Chatgate:
// the limits and entity caches use it for Redis, and so does cachemw (a
// plain net/http package: this one imports nothing but the standard
// library).
package breaker

import (
	"sync"
	"time"
)

// State is a breaker's state; the values are those of the
// chatgate_cache_breaker_state metric.
type State int

const (
	Closed   State = 0
	Open     State = 1
	HalfOpen State = 2
)

// Breaker is a circuit breaker; the zero value opens after 5 failures for
// a second. It is safe for concurrent use. Set the fields before first use.
type Breaker struct {
	// Threshold is how many failures in a row open it (default 5).
	Threshold int
	// Cooldown is how long it stays open before a probe (default 1s).
	Cooldown time.Duration
	// OnChange, if set, hears every state change. It runs under the
	// breaker's lock: it must not call the breaker.
	OnChange func(State)
	// Now is the clock (nil: time.Now).
	Now func() time.Time

	mu       sync.Mutex
	failures int
	openedAt time.Time
	open     bool
	probing  bool
}

// Allow reports whether to call the dependency now; every allowed call
// must be followed by Done.
func (b *Breaker) Allow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open {
		return true
	}
	if b.probing || b.now().Sub(b.openedAt) < b.cooldown() {
		return false
	}
	b.probing = true
	b.changed(Open)
	return true
}

// Done records an allowed call's outcome.
func (b *Breaker) Done(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	was := b.state()
	b.probing = false
	if err == nil {
		b.failures, b.open = 0, false
		b.changed(was)
		return
	}
	b.failures++
	if b.open || b.failures >= b.threshold() {
		b.open, b.openedAt = true, b.now()
	}
	b.changed(was)
}

// Open reports whether calls are being skipped (or only a probe let
// through).
func (b *Breaker) Open() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.open
}

// State is the current state.
func (b *Breaker) State() State {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state()
}

func (b *Breaker) state() State {
	switch {
	case !b.open:
		return Closed
	case b.probing:
		return HalfOpen
	default:
		return Open
	}
}

// changed tells OnChange when the state is no longer was. Caller holds mu.
func (b *Breaker) changed(was State) {
	if s := b.state(); s != was && b.OnChange != nil {
		b.OnChange(s)
	}
}

func (b *Breaker) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

func (b *Breaker) threshold() int {
	if b.Threshold > 0 {
		return b.Threshold
	}
	return 5
}

func (b *Breaker) cooldown() time.Duration {
	if b.Cooldown > 0 {
		return b.Cooldown
	}
	return time.Second
}
