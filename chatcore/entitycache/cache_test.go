package entitycache

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/internal/testenv"
)

// Tests use the machine's Redis (DB 12) with a cache name unique to each
// test; pub/sub is server-wide, and foreign names are ignored.

func client(t testing.TB, addr string) redis.UniversalClient {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr, DB: 12, MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func uniqueName(t testing.TB) string { return fmt.Sprintf("t%d", time.Now().UnixNano()) }

// instance is one gateway's view: its own client, bus and cache.
type instance struct {
	bus   *Bus
	cache *Cache[string]
}

// testPrefix is the deployment prefix of the tests' caches.
const testPrefix = "chatgate:test:entitycache:"

func newInstance(t testing.TB, addr, name string) *instance {
	t.Helper()
	return newInstanceIn(t, addr, testPrefix, name)
}

// newInstanceIn is newInstance in the deployment of prefix.
func newInstanceIn(t testing.TB, addr, prefix, name string) *instance {
	t.Helper()
	bus := NewBus(client(t, addr), prefix, nil)
	bus.Start(context.Background())
	t.Cleanup(bus.Close)
	deadline := time.Now().Add(3 * time.Second)
	for !bus.Healthy() {
		if time.Now().After(deadline) {
			t.Fatal("bus never subscribed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return &instance{bus: bus, cache: New[string](bus, Options{Name: name, TTL: time.Minute})}
}

// db is the "database": a version per id and a load counter.
type db struct {
	version atomic.Int64
	loads   atomic.Int64
	calls   atomic.Int64
}

func (d *db) load(_ context.Context, ids []string) (map[string]string, error) {
	d.calls.Add(1)
	out := make(map[string]string, len(ids))
	for _, id := range ids {
		d.loads.Add(1)
		out[id] = id + "@" + strconv.FormatInt(d.version.Load(), 10)
	}
	return out, nil
}

func (d *db) one(ctx context.Context, id string) (string, error) {
	m, err := d.load(ctx, []string{id})
	return m[id], err
}

func TestTwoLevelsAcrossInstances(t *testing.T) {
	name := uniqueName(t)
	a, b := newInstance(t, "127.0.0.1:6379", name), newInstance(t, "127.0.0.1:6379", name)
	d := &db{}
	ctx := context.Background()
	if v, _ := a.cache.Get(ctx, "42", d.one); v != "42@0" || d.loads.Load() != 1 {
		t.Fatalf("first get %q, loads %d", v, d.loads.Load())
	}
	if v, _ := b.cache.Get(ctx, "42", d.one); v != "42@0" || d.loads.Load() != 1 {
		t.Fatalf("B should hit Redis: %q, loads %d", v, d.loads.Load())
	}
	if b.cache.Len() != 1 {
		t.Fatalf("B's LRU holds %d", b.cache.Len())
	}
	var worst time.Duration
	for i := 1; i <= 50; i++ {
		d.version.Store(int64(i))
		start := time.Now()
		if err := a.cache.Invalidate(ctx, "42"); err != nil {
			t.Fatal(err)
		}
		// The writer reads its own write at once.
		if v, _ := a.cache.Get(ctx, "42", d.one); v != fmt.Sprintf("42@%d", i) {
			t.Fatalf("writer read %q after write %d", v, i)
		}
		want := fmt.Sprintf("42@%d", i)
		for {
			v, _ := b.cache.Get(ctx, "42", d.one)
			if v == want {
				break
			}
			// The target is 10 ms (typically well under 1 ms, see
			// BenchmarkCrossInstanceInvalidation); -race on a busy machine
			// gets a looser bound.
			if time.Since(start) > 100*time.Millisecond {
				t.Fatalf("B still reads %q 100ms after the write", v)
			}
			time.Sleep(100 * time.Microsecond)
		}
		worst = max(worst, time.Since(start))
	}
	t.Logf("worst cross-instance invalidation: %v", worst)
}

func TestGetManyOneLoad(t *testing.T) {
	a := newInstance(t, "127.0.0.1:6379", uniqueName(t))
	d := &db{}
	ids := []string{"1", "2", "3", "4", "5"}
	m, err := a.cache.GetMany(context.Background(), ids, d.load)
	if err != nil || len(m) != 5 || d.calls.Load() != 1 {
		t.Fatalf("%v %v calls %d", m, err, d.calls.Load())
	}
	a.bus.clearAll() // forget the LRU: the next read is one Redis round trip
	m, err = a.cache.GetMany(context.Background(), append(ids, "6"), d.load)
	if err != nil || len(m) != 6 || d.calls.Load() != 2 || d.loads.Load() != 6 {
		t.Fatalf("%v %v calls %d loads %d", m, err, d.calls.Load(), d.loads.Load())
	}
}

// A write lands while a loader is reading the old value: that value must not
// be served afterwards, from either level.
func TestLoadRacingWrite(t *testing.T) {
	a := newInstance(t, "127.0.0.1:6379", uniqueName(t))
	d := &db{}
	inLoad, release := make(chan struct{}), make(chan struct{})
	slow := func(ctx context.Context, id string) (string, error) {
		v := id + "@" + strconv.FormatInt(d.version.Load(), 10)
		close(inLoad)
		<-release
		return v, nil
	}
	done := make(chan string)
	go func() { v, _ := a.cache.Get(context.Background(), "7", slow); done <- v }()
	<-inLoad
	d.version.Store(1)
	if err := a.cache.Invalidate(context.Background(), "7"); err != nil {
		t.Fatal(err)
	}
	close(release)
	if v := <-done; v != "7@0" {
		t.Fatalf("racing read %q", v)
	}
	if v, _ := a.cache.Get(context.Background(), "7", d.one); v != "7@1" {
		t.Fatalf("read after the write: %q", v)
	}
	a.bus.clearAll()
	if v, _ := a.cache.Get(context.Background(), "7", d.one); v != "7@1" {
		t.Fatalf("Redis level after the write: %q", v)
	}
}

func TestNoRedis(t *testing.T) {
	bus := NewBus(nil, testPrefix, nil)
	bus.Start(context.Background())
	defer bus.Close()
	c := New[string](bus, Options{Name: "x", TTL: 50 * time.Millisecond})
	d := &db{}
	c.Get(context.Background(), "1", d.one)
	c.Get(context.Background(), "1", d.one)
	if d.loads.Load() != 1 {
		t.Fatalf("loads %d", d.loads.Load())
	}
	time.Sleep(60 * time.Millisecond)
	c.Get(context.Background(), "1", d.one)
	if d.loads.Load() != 2 {
		t.Fatalf("TTL not honoured: loads %d", d.loads.Load())
	}
	d.version.Store(1)
	c.Invalidate(context.Background(), "1")
	if v, _ := c.Get(context.Background(), "1", d.one); v != "1@1" {
		t.Fatalf("after invalidate %q", v)
	}
}

// TestRedisDown stops this test's own redis-server: reads keep working from
// the loader without touching the LRU, and the caches come back with Redis.
func TestRedisDown(t *testing.T) {
	rs := testenv.StartRedis(t)
	addr := rs.Addr()
	a := newInstance(t, addr, "room")
	d := &db{}
	ctx := context.Background()
	a.cache.Get(ctx, "1", d.one)
	a.cache.Get(ctx, "1", d.one)
	if d.loads.Load() != 1 {
		t.Fatalf("loads %d", d.loads.Load())
	}
	rs.Stop()
	deadline := time.Now().Add(3 * time.Second)
	for a.bus.Healthy() {
		if time.Now().After(deadline) {
			t.Fatal("bus still healthy with Redis dead")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i := 0; i < 20; i++ {
		s := time.Now()
		v, err := a.cache.Get(ctx, "1", d.one)
		if err != nil || v != "1@0" {
			t.Fatalf("with Redis down: %q %v", v, err)
		}
		if time.Since(s) > 100*time.Millisecond {
			t.Fatalf("a read with Redis down took %v", time.Since(s))
		}
	}
	// A write with Redis down: deferred as an epoch bump.
	d.version.Store(1)
	if err := a.cache.Invalidate(ctx, "1"); err == nil {
		t.Fatal("invalidate with Redis down succeeded")
	}
	rs.Start()
	deadline = time.Now().Add(5 * time.Second)
	for !a.bus.Healthy() {
		if time.Now().After(deadline) {
			t.Fatal("bus did not resubscribe")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(time.Second) // the breaker's default cooldown
	loads := d.loads.Load()
	a.cache.Get(ctx, "1", d.one)
	if v, _ := a.cache.Get(ctx, "1", d.one); v != "1@1" || d.loads.Load() != loads+1 {
		t.Fatalf("after recovery %q, loads %d (want %d)", v, d.loads.Load(), loads+1)
	}
}

// Two deployments on one Redis cache the same entity id: each gets its own
// database's value, invalidations stay in their deployment, and every key
// starts with one of the two prefixes.
func TestPrefixSeparatesDeployments(t *testing.T) {
	name := uniqueName(t)
	pa, pb := testPrefix+name+":a:", testPrefix+name+":b:"
	a, b := newInstanceIn(t, "127.0.0.1:6379", pa, name), newInstanceIn(t, "127.0.0.1:6379", pb, name)
	// a2 is another instance of a: it must hear a's invalidations.
	a2 := newInstanceIn(t, "127.0.0.1:6379", pa, name)
	da, db2 := &db{}, &db{}
	db2.version.Store(7)
	ctx := context.Background()
	if v, _ := a.cache.Get(ctx, "42", da.one); v != "42@0" {
		t.Fatalf("a got %q", v)
	}
	if v, _ := a2.cache.Get(ctx, "42", da.one); v != "42@0" || da.loads.Load() != 1 {
		t.Fatalf("a2 should hit a's Redis entry: %q, loads %d", v, da.loads.Load())
	}
	if v, _ := b.cache.Get(ctx, "42", db2.one); v != "42@7" || db2.loads.Load() != 1 {
		t.Fatalf("b got %q (loads %d): another deployment's entry", v, db2.loads.Load())
	}
	if err := a.cache.Invalidate(ctx, "42"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Second); a2.cache.Len() != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a2 never heard a's invalidation")
		}
	}
	if b.cache.Len() != 1 {
		t.Fatal("b heard a's invalidation")
	}
	rdb := client(t, "127.0.0.1:6379")
	var keys []string
	iter := rdb.Scan(ctx, 0, "*"+name+"*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	var na, nb int
	for _, k := range keys {
		switch {
		case strings.HasPrefix(k, pa+"entity:v1:"):
			na++
		case strings.HasPrefix(k, pb+"entity:v1:"):
			nb++
		default:
			t.Errorf("key %q has neither deployment's prefix", k)
		}
	}
	if na < 2 || nb < 1 { // a's value and generation, b's value
		t.Fatalf("keys %q", keys)
	}
}

// The master of the invalidation channel's slot dies on a Redis Cluster
// with replicas: the subscription must follow its replica within moments
// of the failover (the LRU level is bypassed until it does), not when
// go-redis happens to refresh its slot map, up to 10 s later.
func TestClusterFailover(t *testing.T) {
	rc := testenv.StartRedisClusterReplicas(t, 3, 1)
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: rc.Addrs(), DialTimeout: 2 * time.Second,
		ReadTimeout: time.Second, WriteTimeout: time.Second, DialerRetries: 1})
	t.Cleanup(func() { rdb.Close() })
	bus := NewBus(rdb, testPrefix, nil)
	bus.Start(context.Background())
	t.Cleanup(bus.Close)
	for deadline := time.Now().Add(5 * time.Second); !bus.Healthy(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("bus never subscribed")
		}
	}
	victim, replicas := rc.MasterOf(t, bus.channel())
	if len(replicas) != 1 {
		t.Fatalf("master %s has replicas %v", victim.Addr(), replicas)
	}
	victim.Stop()
	for deadline := time.Now().Add(5 * time.Second); bus.Healthy(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("bus still healthy with its node dead")
		}
	}
	promoted := rc.WaitMaster(t, replicas[0], 20*time.Second)
	const follow = 3 * time.Second
	for !bus.Healthy() {
		if time.Since(promoted) > follow {
			t.Fatalf("not subscribed again %v after the failover", follow)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("subscribed again %v after the failover", time.Since(promoted).Round(time.Millisecond))
}

// failPipelines makes a client's pipelines fail while on (its subscription
// is no pipeline and stays up): an invalidation lost to a Redis timeout.
type failPipelines struct{ on atomic.Bool }

func (h *failPipelines) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h *failPipelines) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h *failPipelines) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if h.on.Load() {
			err := errors.New("injected: i/o timeout")
			for _, c := range cmds {
				c.SetErr(err)
			}
			return err
		}
		return next(ctx, cmds)
	}
}

// An invalidation that does not reach Redis is redone for its ids once
// Redis answers: the other instances drop those ids and nothing else, and
// no instance keeps serving the old value. (It used to bump the epoch,
// which emptied every instance's LRU: under load, one timed-out
// invalidation sent every membership check of every send to Postgres.)
func TestLostInvalidationRedoneForItsIDs(t *testing.T) {
	rs := testenv.StartRedis(t)
	name := uniqueName(t)
	hook := &failPipelines{}
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr(), DB: 12, MaxRetries: -1, DialTimeout: 100 * time.Millisecond}) // as client()
	rdb.AddHook(hook)
	t.Cleanup(func() { rdb.Close() })
	busA := NewBus(rdb, testPrefix, nil)
	busA.Start(context.Background())
	t.Cleanup(busA.Close)
	a := &instance{bus: busA, cache: New[string](busA, Options{Name: name, TTL: time.Minute})}
	b := newInstance(t, rs.Addr(), name)
	for deadline := time.Now().Add(3 * time.Second); !busA.Healthy(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("bus never subscribed")
		}
	}
	var version atomic.Int64
	var loads atomic.Int64
	load := func(_ context.Context, id string) (string, error) {
		loads.Add(1)
		return id + "@" + strconv.FormatInt(version.Load(), 10), nil
	}
	ctx := context.Background()
	for _, in := range []*instance{a, b} {
		for _, id := range []string{"1", "2"} {
			in.cache.Get(ctx, id, load)
		}
	}
	before := loads.Load()

	hook.on.Store(true)
	version.Store(1) // the write of id 1...
	if err := a.cache.Invalidate(ctx, "1"); err == nil {
		t.Fatal("invalidate succeeded through failing pipelines")
	}
	hook.on.Store(false) // ...whose invalidation was lost; Redis answers again

	if v, _ := a.cache.Get(ctx, "1", load); v != "1@1" {
		t.Fatalf("a: id 1 = %q after its write", v)
	}
	// a redoes the invalidation on its next use of Redis, once its
	// breaker lets it (a busy instance uses Redis all the time).
	deadline := time.Now().Add(3 * time.Second)
	for i := 0; ; i++ {
		a.cache.Get(ctx, fmt.Sprint("other-", i), load)
		v, _ := b.cache.Get(ctx, "1", load)
		if v == "1@1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b: id 1 still %q after the redone invalidation", v)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Id 2 was not written: both instances still have it in their LRU.
	n := loads.Load()
	for _, in := range []*instance{a, b} {
		if v, _ := in.cache.Get(ctx, "2", load); v != "2@0" {
			t.Fatalf("id 2 = %q", v)
		}
	}
	if loads.Load() != n {
		t.Fatalf("id 2 loaded again (loads %d → %d, %d before the write)", n, loads.Load(), before)
	}
	if b.cache.Len() != 2 {
		t.Fatalf("b's LRU holds %d: want ids 1 and 2", b.cache.Len())
	}
}

// Entries loaded together expire over a quarter of the TTL, not in one
// instant: thousands of clients connecting in a few seconds load every
// membership at once, and their refill would hit Redis and Postgres in
// one wave 30 s later.
func TestExpiriesSpread(t *testing.T) {
	c := New[string](NewBus(nil, testPrefix, nil), Options{Name: uniqueName(t), TTL: time.Minute})
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = strconv.Itoa(i)
	}
	before := time.Now()
	if _, err := c.GetMany(context.Background(), ids, func(_ context.Context, ids []string) (map[string]string, error) {
		out := make(map[string]string, len(ids))
		for _, id := range ids {
			out[id] = id
		}
		return out, nil
	}); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	lo, hi := after.Add(time.Hour), before
	c.l1.mu.Lock()
	for _, el := range c.l1.m {
		e := el.Value.(*lruEntry[string])
		if e.exp.Before(lo) {
			lo = e.exp
		}
		if e.exp.After(hi) {
			hi = e.exp
		}
	}
	c.l1.mu.Unlock()
	if lo.Before(before.Add(45*time.Second)) || hi.After(after.Add(time.Minute)) {
		t.Fatalf("expiries %v..%v after the load: want within [45 s, 60 s]", lo.Sub(before), hi.Sub(before))
	}
	if hi.Sub(lo) < 10*time.Second {
		t.Fatalf("1,000 entries expire within %v of each other", hi.Sub(lo))
	}
}
