package entitycache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/chatgate/chatgate/chatcore/metrics"
)

// Options configure one typed cache.
type Options struct {
	// Name is the entity kind in keys and metrics:
	// <prefix>entity:v1:<name>:<id>.
	Name string
	// TTL bounds both levels.
	TTL time.Duration
	// L1Size caps the in-process level (10000 entries).
	L1Size int
}

// Cache is a two-level cache of V by string id.
type Cache[V any] struct {
	bus  *Bus
	opts Options
	l1   *lru[V]
	m    *metrics.Set
	// seq counts local invalidations: a load that saw it move does not fill
	// the LRU, it may hold a value from before the write.
	seq atomic.Uint64
	// OnInvalidate, when set, is called with the ids of every invalidation
	// this instance sees (its own and other instances').
	OnInvalidate func(ids []string)
	// OnClear, when set, is called when the in-process level is emptied
	// wholesale: the subscription was lost or restored (invalidations may
	// have been missed) or the epoch moved.
	OnClear func()
}

// New returns a cache on bus. It does no I/O.
func New[V any](bus *Bus, opts Options) *Cache[V] {
	if opts.L1Size <= 0 {
		opts.L1Size = 10000
	}
	c := &Cache[V]{bus: bus, opts: opts, l1: newLRU[V](opts.L1Size), m: metrics.Default()}
	bus.register(opts.Name, c)
	return c
}

func (c *Cache[V]) key(id string) string    { return c.bus.prefix + c.opts.Name + ":" + id }
func (c *Cache[V]) genKey(id string) string { return c.key(id) + ":gen" }

// ttl is an entry's lifetime: Options.TTL less up to a quarter of it, at
// random, so that entries loaded together (every member's membership when
// thousands of clients connect in a few seconds) do not all expire, and go
// back to Redis and Postgres, in the same second.
func (c *Cache[V]) ttl() time.Duration { return c.opts.TTL - rand.N(c.opts.TTL/4+1) }

// genTTL: the generation outlives the value, so the value always expires
// first and a lost generation only ever causes a miss.
func (c *Cache[V]) genTTL() time.Duration { return 2 * c.opts.TTL }

func (c *Cache[V]) dropLocal(ids []string) {
	c.seq.Add(1)
	c.l1.remove(ids)
	if c.OnInvalidate != nil {
		c.OnInvalidate(ids)
	}
}

func (c *Cache[V]) clearLocal() {
	c.seq.Add(1)
	c.l1.clear()
	if c.OnClear != nil {
		c.OnClear()
	}
}

// Generation changes whenever an invalidation or a wholesale clear reaches
// this instance (its own or another instance's). A value derived from
// this cache's values (the room list's counters snapshot) stays true while
// Generation is unchanged and the bus is healthy, as the in-process level
// itself does.
func (c *Cache[V]) Generation() uint64 { return c.seq.Load() }

// Len is the size of the in-process level.
func (c *Cache[V]) Len() int { return c.l1.len() }

// Get returns the value of id from a level, else from load (then cached).
func (c *Cache[V]) Get(ctx context.Context, id string, load func(ctx context.Context, id string) (V, error)) (V, error) {
	// The in-process hit, the common case (every send's membership check),
	// without GetMany's maps and closure.
	if c.bus.Healthy() {
		if v, ok := c.l1.get(id, time.Now()); ok {
			c.count("hit")
			return v, nil
		}
	}
	m, err := c.GetMany(ctx, []string{id}, func(ctx context.Context, ids []string) (map[string]V, error) {
		v, err := load(ctx, ids[0])
		if err != nil {
			return nil, err
		}
		return map[string]V{ids[0]: v}, nil
	})
	if err != nil {
		var zero V
		return zero, err
	}
	return m[id], nil
}

// ErrNotLoaded is returned by Get when the loader's map lacks the id.
var ErrNotLoaded = errors.New("entitycache: loader returned no value")

// GetMany returns the values of ids: from the LRU, then one pipelined Redis
// round trip for the rest, then one load call for what is still missing.
// Ids the loader does not return are absent from the result (and not
// cached).
func (c *Cache[V]) GetMany(ctx context.Context, ids []string, load func(ctx context.Context, ids []string) (map[string]V, error)) (map[string]V, error) {
	out := make(map[string]V, len(ids))
	now := time.Now()
	useL1 := c.bus.Healthy()
	seq := c.seq.Load()
	var missing []string
	hits := 0
	for _, id := range ids {
		if useL1 {
			if v, ok := c.l1.get(id, now); ok {
				out[id] = v
				hits++
				continue
			}
		}
		missing = append(missing, id)
	}
	if hits > 0 {
		// One counter update per call: a room list asks for hundreds.
		c.m.Cache.WithLabelValues(c.opts.Name, "hit").Add(float64(hits))
	}
	if len(missing) == 0 {
		return out, nil
	}
	gens, redisOK := c.fromRedis(ctx, missing, out, useL1, seq)
	var toLoad []string
	for _, id := range missing {
		if _, ok := out[id]; !ok {
			toLoad = append(toLoad, id)
		}
	}
	if len(toLoad) == 0 {
		return out, nil
	}
	loaded, err := load(ctx, toLoad)
	if err != nil {
		return nil, fmt.Errorf("entitycache %s: load: %w", c.opts.Name, err)
	}
	for id, v := range loaded {
		out[id] = v
	}
	if redisOK {
		c.toRedis(ctx, loaded, gens)
	}
	if useL1 && c.seq.Load() == seq && c.bus.Healthy() {
		now := time.Now()
		for id, v := range loaded {
			c.l1.put(id, v, now.Add(c.ttl()))
		}
	}
	return out, nil
}

func (c *Cache[V]) count(result string) { c.m.Cache.WithLabelValues(c.opts.Name, result).Inc() }

// stamp is what a value is stored under: the epoch and its generation.
type stamp struct{ epoch, gen string }

// fromRedis fills out with the valid Redis values of ids and returns the
// stamps to store loaded values under; ok=false means Redis is not usable.
func (c *Cache[V]) fromRedis(ctx context.Context, ids []string, out map[string]V, useL1 bool, seq uint64) (map[string]stamp, bool) {
	b := c.bus
	if b.rdb == nil || !b.br.Allow() || !b.recover(ctx) {
		for range ids {
			c.count("bypass")
		}
		return nil, false
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.timeout)
	defer cancel()
	start := time.Now()
	pipe := b.rdb.Pipeline()
	epoch := pipe.Get(rctx, b.epochKey())
	vals, gens := make([]*redis.StringCmd, len(ids)), make([]*redis.StringCmd, len(ids))
	for i, id := range ids {
		vals[i] = pipe.Get(rctx, c.key(id))
		gens[i] = pipe.Get(rctx, c.genKey(id))
	}
	_, err := pipe.Exec(rctx)
	if errors.Is(err, redis.Nil) {
		err = nil
	}
	c.m.ObserveRedis("entity_get", time.Since(start))
	b.br.Done(err)
	if err != nil {
		b.log.Debug("entitycache: redis get failed", zap.String("cache", c.opts.Name), zap.Error(err))
		for range ids {
			c.count("bypass")
		}
		return nil, false
	}
	ep := epoch.Val()
	stamps := make(map[string]stamp, len(ids))
	now := time.Now()
	fill := useL1 && c.seq.Load() == seq && b.Healthy()
	for i, id := range ids {
		st := stamp{epoch: ep, gen: gens[i].Val()}
		stamps[id] = st
		if v, ok := c.decode(vals[i].Val(), st); ok {
			out[id] = v
			c.count("hit_redis")
			if fill {
				c.l1.put(id, v, now.Add(c.ttl()))
			}
			continue
		}
		c.count("miss")
	}
	return stamps, true
}

// Values are stored as "<epoch>|<gen>|<json>".
func (c *Cache[V]) decode(raw string, want stamp) (V, bool) {
	var v V
	ep, rest, ok1 := strings.Cut(raw, "|")
	gen, body, ok2 := strings.Cut(rest, "|")
	if !ok1 || !ok2 || ep != want.epoch || gen != want.gen {
		return v, false
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		return v, false
	}
	return v, true
}

func (c *Cache[V]) toRedis(ctx context.Context, loaded map[string]V, stamps map[string]stamp) {
	if len(loaded) == 0 {
		return
	}
	b := c.bus
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.timeout)
	defer cancel()
	start := time.Now()
	pipe := b.rdb.Pipeline()
	for id, v := range loaded {
		body, err := json.Marshal(v)
		if err != nil {
			continue
		}
		st := stamps[id]
		pipe.Set(rctx, c.key(id), st.epoch+"|"+st.gen+"|"+string(body), c.ttl())
	}
	_, err := pipe.Exec(rctx)
	c.m.ObserveRedis("entity_set", time.Since(start))
	b.br.Done(err)
}

// Invalidate drops ids from both levels on every instance: the local LRU at
// once, Redis by a new generation per id, other instances' LRUs by a
// message on the channel. If Redis cannot be reached the ids are
// invalidated as soon as it can (recover); the error is for logging only.
func (c *Cache[V]) Invalidate(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	c.dropLocal(ids)
	b := c.bus
	if b.rdb == nil {
		return nil
	}
	if !b.br.Allow() {
		b.lose(c.opts.Name, ids)
		metrics.Caches().InvalidationErrors.WithLabelValues(c.opts.Name).Inc()
		return fmt.Errorf("entitycache %s: redis unavailable, invalidation deferred", c.opts.Name)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.timeout)
	defer cancel()
	start := time.Now()
	pipe := b.rdb.Pipeline()
	for _, id := range ids {
		pipe.Set(rctx, c.genKey(id), newGen(), c.genTTL())
	}
	pipe.Publish(rctx, b.channel(), b.message(c.opts.Name, ids))
	_, err := pipe.Exec(rctx)
	c.m.ObserveRedis("entity_invalidate", time.Since(start))
	b.br.Done(err)
	if err != nil {
		b.lose(c.opts.Name, ids)
		metrics.Caches().InvalidationErrors.WithLabelValues(c.opts.Name).Inc()
		return fmt.Errorf("entitycache %s: invalidate: %w", c.opts.Name, err)
	}
	return nil
}
