// Package entitycache holds Chatgate's typed entity caches: two levels, an
// in-process LRU in front of Redis, with versioned keys under the
// deployment's prefix (<prefix>entity:v1:room:42), so deployments sharing a
// Redis never serve each other's entities.
//
// Correctness rests on two mechanisms:
//
//   - Redis level: every entity has a generation key beside its value
//     (<prefix>entity:v1:room:42:gen). A value is stored with the generation
//     read before the database load, in the same round trip as the value
//     lookup; a write sets a fresh random generation. So a loader racing a
//     write stores a value that no longer matches, never a stale one that
//     does. An invalidation that could not reach Redis is redone for its
//     ids once Redis answers (this instance bypasses Redis until then); a
//     global epoch (<prefix>entity:v1:epoch) does the same for everything
//     at once when more ids were lost than are remembered one by one.
//
//   - In-process level: a write publishes the ids on one Redis channel;
//     every instance drops them from its LRU. The LRU is trusted only while
//     the subscription is up (it is cleared on every (re)subscribe), and a
//     load that overlapped an invalidation does not fill it.
//
// Redis being slow or down never fails a call: values come from the loader
// (the database) and the LRU is bypassed until the subscription is back.
package entitycache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/chatgate/chatgate/chatcore/breaker"
	"github.com/chatgate/chatgate/chatcore/metrics"
)

// keyVersion follows the deployment prefix in every key: a change of
// encoding bumps it.
const keyVersion = "entity:v1:"

// level1 is what the bus needs from each cache.
type level1 interface {
	dropLocal(ids []string)
	clearLocal()
	genKey(id string) string
	genTTL() time.Duration
}

// maxLost bounds the ids whose lost invalidations are remembered one by
// one; past it the epoch is bumped, which invalidates everything.
const maxLost = 4096

// Bus is the invalidation channel and health of one instance's caches.
type Bus struct {
	rdb     redis.UniversalClient
	prefix  string // the deployment's, then keyVersion
	log     *zap.Logger
	origin  string
	timeout time.Duration
	br      breaker.Breaker

	mu     sync.RWMutex
	caches map[string]level1

	healthy atomic.Bool // the LRU level may be used
	dirty   atomic.Bool // an invalidation was lost: redo it when Redis is back

	lostMu    sync.Mutex
	lost      map[string]map[string]struct{} // cache name -> ids whose invalidation was lost
	lostN     int
	lostAll   bool       // more than maxLost: bump the epoch instead
	recoverMu sync.Mutex // one recovery at a time
	cancel    context.CancelFunc
	ps        atomic.Pointer[redis.PubSub] // the live subscription, closed by Close
	done      chan struct{}
	started   atomic.Bool
}

// NewBus returns a bus on rdb (nil: one instance, no Redis, the LRU is
// always trusted and invalidations stay local). Its keys and channel start
// with prefix, the deployment's Redis prefix. It does no I/O.
func NewBus(rdb redis.UniversalClient, prefix string, log *zap.Logger) *Bus {
	if log == nil {
		log = zap.NewNop()
	}
	var id [6]byte
	_, _ = rand.Read(id[:])
	b := &Bus{rdb: rdb, prefix: prefix + keyVersion, log: log, origin: hex.EncodeToString(id[:]), timeout: 25 * time.Millisecond,
		caches: make(map[string]level1), done: make(chan struct{})}
	b.healthy.Store(rdb == nil)
	return b
}

// Start subscribes to the invalidation channel in the background; the LRU
// level is bypassed until the subscription is confirmed.
func (b *Bus) Start(ctx context.Context) {
	if !b.started.CompareAndSwap(false, true) {
		return
	}
	if b.rdb == nil {
		close(b.done)
		return
	}
	ctx, b.cancel = context.WithCancel(ctx)
	go b.subscribe(ctx)
}

// Close stops the subscription and waits for it.
func (b *Bus) Close() {
	if !b.started.Load() {
		return
	}
	if b.cancel != nil {
		b.cancel()
	}
	// A blocked receive does not watch the context: closing unblocks it.
	if ps := b.ps.Load(); ps != nil {
		_ = ps.Close()
	}
	<-b.done
}

// channel carries invalidations between the deployment's instances.
func (b *Bus) channel() string { return b.prefix + "invalidate" }

// epochKey is the global epoch every stored value carries.
func (b *Bus) epochKey() string { return b.prefix + "epoch" }

// Healthy reports whether the in-process level is in use.
func (b *Bus) Healthy() bool { return b.healthy.Load() }

func (b *Bus) register(name string, c level1) {
	b.mu.Lock()
	b.caches[name] = c
	b.mu.Unlock()
}

func (b *Bus) clearAll() {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, c := range b.caches {
		c.clearLocal()
	}
}

func (b *Bus) subscribe(ctx context.Context) {
	defer close(b.done)
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		ps := b.rdb.Subscribe(ctx, b.channel())
		b.ps.Store(ps)
		if ctx.Err() != nil { // Close ran before the Store
			_ = ps.Close()
			return
		}
		err := b.receive(ctx, ps)
		b.healthy.Store(false)
		b.clearAll()
		_ = ps.Close()
		if ctx.Err() != nil || errors.Is(err, redis.ErrClosed) {
			return
		}
		b.log.Warn("entitycache: invalidation subscription lost, retrying", zap.Error(err))
		// On a Redis Cluster the subscription lives on the master of the
		// channel's slot. When that master dies its replica takes over,
		// but go-redis's slot map names the dead node until refreshed,
		// which neither a refused dial nor a subscriber connection does
		// (only a MOVED reply or a command on a map older than 10 s):
		// refresh it, or the LRU stays bypassed that long.
		if cc, ok := b.rdb.(*redis.ClusterClient); ok {
			cc.ReloadState(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}

// receive handles messages until the subscription fails. A quiet channel
// is pinged, so a silently dead connection is noticed within a few seconds.
func (b *Bus) receive(ctx context.Context, ps *redis.PubSub) error {
	for {
		msg, err := ps.ReceiveTimeout(ctx, 2*time.Second)
		if err != nil {
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil {
				if err := ps.Ping(ctx); err != nil {
					return err
				}
				continue
			}
			return err
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				// Anything published while we were away is lost: start empty.
				b.clearAll()
				b.healthy.Store(true)
			}
		case *redis.Message:
			b.handle(m.Payload)
		}
	}
}

// Message format: "<origin> <unix nanos> <cache> <id> [<id>...]", or cache
// "*" for everything.
func (b *Bus) handle(payload string) {
	f := strings.Fields(payload)
	if len(f) < 3 {
		return
	}
	if f[0] != b.origin {
		if ns, err := strconv.ParseInt(f[1], 10, 64); err == nil {
			metrics.Caches().Invalidation.Observe(time.Since(time.Unix(0, ns)).Seconds())
		}
	}
	if f[2] == "*" {
		b.clearAll()
		return
	}
	b.mu.RLock()
	c := b.caches[f[2]]
	b.mu.RUnlock()
	if c != nil {
		c.dropLocal(f[3:])
	}
}

func (b *Bus) message(cache string, ids []string) string {
	return b.origin + " " + strconv.FormatInt(time.Now().UnixNano(), 10) + " " + cache + " " + strings.Join(ids, " ")
}

// lose remembers ids of cache whose invalidation did not reach Redis:
// until it is redone (recover), this instance bypasses Redis, and other
// instances may still hold the old values.
func (b *Bus) lose(cache string, ids []string) {
	b.lostMu.Lock()
	defer b.lostMu.Unlock()
	b.dirty.Store(true)
	if b.lostAll {
		return
	}
	if b.lostN+len(ids) > maxLost {
		b.lostAll, b.lost, b.lostN = true, nil, 0
		return
	}
	if b.lost == nil {
		b.lost = make(map[string]map[string]struct{})
	}
	set := b.lost[cache]
	if set == nil {
		set = make(map[string]struct{})
		b.lost[cache] = set
	}
	for _, id := range ids {
		if _, ok := set[id]; !ok {
			set[id] = struct{}{}
			b.lostN++
		}
	}
}

// recover redoes the lost invalidations once Redis answers: a new
// generation for each lost id and its notice to every instance, or, past
// maxLost ids, a new epoch and a "*" notice (everything). Only the ids
// that were lost are invalidated: a write's lost notice (a timeout under
// load, a cluster node failing over) used to bump the epoch, which empties
// every instance's LRU and sends every cached entity, every send's
// membership check included, to Postgres at once. It reports whether
// Redis may be used (not while a recovery is due or running).
func (b *Bus) recover(ctx context.Context) bool {
	if !b.dirty.Load() {
		return true
	}
	if !b.recoverMu.TryLock() {
		return false
	}
	defer b.recoverMu.Unlock()
	b.lostMu.Lock()
	all, lost := b.lostAll, b.lost
	b.lostAll, b.lost, b.lostN = false, nil, 0
	b.lostMu.Unlock()

	b.mu.RLock()
	caches := make(map[string]level1, len(lost))
	for name := range lost {
		if c := b.caches[name]; c != nil {
			caches[name] = c
		}
	}
	b.mu.RUnlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.timeout)
	defer cancel()
	pipe := b.rdb.Pipeline()
	dropped := make(map[string][]string, len(lost))
	if all {
		pipe.Set(ctx, b.epochKey(), newGen(), 0)
		pipe.Publish(ctx, b.channel(), b.message("*", nil))
	} else {
		for name, set := range lost {
			c := caches[name]
			if c == nil {
				continue
			}
			ids := make([]string, 0, len(set))
			for id := range set {
				ids = append(ids, id)
				pipe.Set(ctx, c.genKey(id), newGen(), c.genTTL())
			}
			pipe.Publish(ctx, b.channel(), b.message(name, ids))
			dropped[name] = ids
		}
	}
	_, err := pipe.Exec(ctx)
	b.br.Done(err)
	if err != nil {
		// Still lost: put them back with whatever was lost meanwhile.
		if all {
			b.lostMu.Lock()
			b.lostAll, b.lost, b.lostN = true, nil, 0
			b.lostMu.Unlock()
		}
		for name, ids := range dropped {
			b.lose(name, ids)
		}
		return false
	}
	b.lostMu.Lock()
	b.dirty.Store(b.lostAll || b.lostN > 0)
	pending := b.dirty.Load()
	b.lostMu.Unlock()
	// This instance's own LRU may have taken old values from other
	// instances' writes to Redis meanwhile.
	if all {
		b.clearAll()
	} else {
		for name, ids := range dropped {
			caches[name].dropLocal(ids)
		}
	}
	return !pending
}

func newGen() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
