package gateway

import (
	"sync"
	"time"
)

// memberCache remembers confirmed memberships for a short TTL so the send
// path costs no query. It is bounded: at the cap it is simply reset, which
// costs a burst of queries, not correctness.
type memberCache struct {
	ttl time.Duration
	mu  sync.RWMutex
	m   map[[2]int64]time.Time
}

const memberCacheCap = 1 << 20

func newMemberCache(ttl time.Duration) *memberCache {
	return &memberCache{ttl: ttl, m: make(map[[2]int64]time.Time)}
}

func (c *memberCache) has(room, user int64) bool {
	c.mu.RLock()
	exp, ok := c.m[[2]int64{room, user}]
	c.mu.RUnlock()
	return ok && time.Now().Before(exp)
}

func (c *memberCache) add(room, user int64) {
	c.mu.Lock()
	if len(c.m) >= memberCacheCap {
		c.m = make(map[[2]int64]time.Time)
	}
	c.m[[2]int64{room, user}] = time.Now().Add(c.ttl)
	c.mu.Unlock()
}

func (c *memberCache) remove(room, user int64) {
	c.mu.Lock()
	delete(c.m, [2]int64{room, user})
	c.mu.Unlock()
}
