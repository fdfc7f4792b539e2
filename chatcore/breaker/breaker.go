// Package breaker skips a failing dependency for a while instead of
// paying its timeout on every call: after Threshold failures in a row it
// opens for Cooldown, then lets one probe through; a success closes it.
package breaker

import (
	"sync"
	"time"
)

// Breaker is a circuit breaker; the zero value opens after 5 failures for
// a second. It is safe for concurrent use.
type Breaker struct {
	// Threshold is how many failures in a row open it (default 5).
	Threshold int
	// Cooldown is how long it stays open before a probe (default 1s).
	Cooldown time.Duration

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
	if b.probing || time.Since(b.openedAt) < b.cooldown() {
		return false
	}
	b.probing = true
	return true
}

// Done records an allowed call's outcome.
func (b *Breaker) Done(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.probing = false
	if err == nil {
		b.failures, b.open = 0, false
		return
	}
	b.failures++
	if b.open || b.failures >= b.threshold() {
		b.open, b.openedAt = true, time.Now()
	}
}

// Open reports whether calls are being skipped.
func (b *Breaker) Open() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.open
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
