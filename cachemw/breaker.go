package cachemw

import (
	"sync"
	"time"
)

// Breaker states, also the values of the breaker-state metric.
const (
	BreakerClosed   = 0
	BreakerOpen     = 1
	BreakerHalfOpen = 2
)

// breaker stops calling a failing storage: after threshold consecutive
// failures it opens for cooldown, then lets one probe through (half-open);
// the probe's outcome closes or reopens it. While open, requests skip the
// storage entirely, so a dead Redis costs nothing per request.
type breaker struct {
	threshold int
	cooldown  time.Duration
	onChange  func(state int)

	mu       sync.Mutex
	state    int
	failures int
	openedAt time.Time
	probing  bool
}

func newBreaker(threshold int, cooldown time.Duration, onChange func(int)) *breaker {
	if onChange == nil {
		onChange = func(int) {}
	}
	return &breaker{threshold: threshold, cooldown: cooldown, onChange: onChange}
}

// allow reports whether a storage call may be made now.
func (b *breaker) allow(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case BreakerClosed:
		return true
	case BreakerOpen:
		if now.Sub(b.openedAt) < b.cooldown {
			return false
		}
		b.setState(BreakerHalfOpen)
		b.probing = true
		return true
	default: // half-open: one probe at a time
		if b.probing {
			return false
		}
		b.probing = true
		return true
	}
}

func (b *breaker) success() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failures = 0
	b.probing = false
	if b.state != BreakerClosed {
		b.setState(BreakerClosed)
	}
}

func (b *breaker) failure(now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failures++
	b.probing = false
	if b.state == BreakerHalfOpen || b.failures >= b.threshold {
		b.openedAt = now
		if b.state != BreakerOpen {
			b.setState(BreakerOpen)
		}
	}
}

func (b *breaker) current() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}

func (b *breaker) setState(s int) {
	b.state = s
	b.onChange(s)
}
