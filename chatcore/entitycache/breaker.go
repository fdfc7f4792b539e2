package entitycache

import (
	"sync"
	"time"
)

// breaker skips Redis after consecutive failures, for a cooldown, then lets
// one probe through. (cachemw has its own: chatcore does not import it.)
type breaker struct {
	mu       sync.Mutex
	failures int
	openedAt time.Time
	open     bool
	probing  bool
}

const (
	breakerThreshold = 5
	breakerCooldown  = time.Second
)

func (b *breaker) allow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open {
		return true
	}
	if b.probing || time.Since(b.openedAt) < breakerCooldown {
		return false
	}
	b.probing = true
	return true
}

// done records a call's outcome.
func (b *breaker) done(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.probing = false
	if err == nil {
		b.failures, b.open = 0, false
		return
	}
	b.failures++
	if b.open || b.failures >= breakerThreshold {
		b.open, b.openedAt = true, time.Now()
	}
}
