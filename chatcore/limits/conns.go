package limits

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/chatcore/breaker"
)

// connTTL is how long an instance's counts outlive it: a crashed
// instance's connections stop counting after this.
const connTTL = 30 * time.Second

// acquireScript counts an instance's connections for one key in
// "<base>:<instance>" (expiring) and the instances holding any in the set
// "<base>". It sums the live instances' counts and adds one for ARGV[1]
// when the sum is below ARGV[2]. Every key carries base's hash tag, so on a
// Cluster they share a slot.
var acquireScript = redis.NewScript(`
local base, me, limit, ttl = KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local total = 0
for _, id in ipairs(redis.call('SMEMBERS', base)) do
	local n = redis.call('GET', base .. ':' .. id)
	if n then total = total + tonumber(n) else redis.call('SREM', base, id) end
end
if total >= limit then return -total end
local mine = base .. ':' .. me
redis.call('INCR', mine)
redis.call('EXPIRE', mine, ttl)
redis.call('SADD', base, me)
redis.call('EXPIRE', base, ttl)
return total + 1
`)

// ConnCounter limits concurrent connections per key (a client address)
// across instances. This instance's own counts are exact and kept locally;
// Redis holds each instance's count with an expiry that a heartbeat
// renews, so the counts of an instance that dies fade out by themselves.
// Without Redis, or while it fails, each instance limits on its own counts.
type ConnCounter struct {
	rdb     redis.UniversalClient
	prefix  string
	id      string
	onError func(error)
	br      *breaker.Breaker

	mu    sync.Mutex
	local map[string]int
}

// NewConnCounter returns a counter; rdb may be nil. instance names this
// process; a random suffix keeps a restarted process from inheriting the
// counts of its previous life.
func NewConnCounter(rdb redis.UniversalClient, prefix, instance string, onError func(error)) *ConnCounter {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return &ConnCounter{rdb: rdb, prefix: prefix, id: instance + "/" + hex.EncodeToString(b[:]),
		onError: onError, br: newBreaker(), local: make(map[string]int)}
}

// Acquire counts one more connection for key if fewer than limit are open
// (limit ≤ 0: no limit). When ok, release must be called exactly once when
// the connection ends.
func (c *ConnCounter) Acquire(ctx context.Context, key string, limit int) (release func(), ok bool) {
	if limit <= 0 {
		return func() {}, true
	}
	c.mu.Lock()
	if c.local[key] >= limit {
		c.mu.Unlock()
		return nil, false
	}
	c.local[key]++
	c.mu.Unlock()
	if c.rdb != nil && c.br.Allow() {
		ctx, cancel := context.WithTimeout(ctx, redisTimeout)
		n, err := acquireScript.Run(ctx, c.rdb, []string{c.base(key)}, c.id, limit, int(connTTL/time.Second)).Int()
		cancel()
		c.br.Done(err)
		switch {
		case err != nil:
			c.fail(err) // the local count has decided
		case n <= 0:
			c.drop(key)
			return nil, false
		}
	}
	var once sync.Once
	return func() { once.Do(func() { c.release(key) }) }, true
}

func (c *ConnCounter) base(key string) string { return c.prefix + "{" + key + "}" }

func (c *ConnCounter) drop(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.local[key] - 1
	if n <= 0 {
		delete(c.local, key)
		return 0
	}
	c.local[key] = n
	return n
}

func (c *ConnCounter) release(key string) {
	n := c.drop(key)
	if c.rdb == nil || !c.br.Allow() {
		return // the heartbeat rewrites the count once Redis is back
	}
	ctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
	defer cancel()
	// SET, not DECR: the local count is the truth, and SET also repairs a
	// count that drifted while Redis was unreachable.
	mine := c.base(key) + ":" + c.id
	var err error
	if n == 0 {
		err = c.rdb.Del(ctx, mine).Err()
	} else {
		err = c.rdb.Set(ctx, mine, n, connTTL).Err()
	}
	c.br.Done(err)
	if err != nil {
		c.fail(err)
	}
}

// Open is this instance's count for key.
func (c *ConnCounter) Open(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.local[key]
}

// Run renews this instance's counts in Redis until ctx ends, rewriting
// them from the local truth, so they survive a Redis restart and expire
// only when this instance stops.
func (c *ConnCounter) Run(ctx context.Context) {
	if c.rdb == nil {
		return
	}
	t := time.NewTicker(connTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.renew(ctx)
	}
}

func (c *ConnCounter) renew(ctx context.Context) {
	c.mu.Lock()
	snap := make(map[string]int, len(c.local))
	for k, n := range c.local {
		snap[k] = n
	}
	c.mu.Unlock()
	if len(snap) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for k, n := range snap {
			base := c.base(k)
			p.Set(ctx, base+":"+c.id, strconv.Itoa(n), connTTL)
			p.SAdd(ctx, base, c.id)
			p.Expire(ctx, base, connTTL)
		}
		return nil
	})
	if err != nil {
		c.fail(err)
	}
}

func (c *ConnCounter) fail(err error) {
	if c.onError != nil {
		c.onError(err)
	}
}
