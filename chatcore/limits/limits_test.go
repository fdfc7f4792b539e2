package limits

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// testRedis is the shared Redis (CHATGATE_REDIS or 127.0.0.1:6379) under a
// prefix of its own, so runs never see each other's buckets.
func testRedis(t testing.TB) (redis.UniversalClient, string) {
	t.Helper()
	addr := "127.0.0.1:6379"
	if u := os.Getenv("CHATGATE_REDIS"); u != "" {
		opt, err := redis.ParseURL(u)
		if err != nil {
			t.Fatalf("CHATGATE_REDIS: %v", err)
		}
		addr = opt.Addr
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = rdb.Close() })
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("redis at %s: %v", addr, err)
	}
	return rdb, fmt.Sprintf("chatgate:test:%s:%d:", t.Name(), time.Now().UnixNano())
}

// deadRedis is a client for a port nothing listens on.
func deadRedis(t *testing.T) redis.UniversalClient {
	redis.SetLogger(quietLogger{})
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 20 * time.Millisecond})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

func takeAll(l *Limiter, key string, r Rate, n int) (allowed int) {
	for range n {
		if ok, _ := l.Allow(context.Background(), key, r); ok {
			allowed++
		}
	}
	return allowed
}

func TestLimiterSharedAcrossInstances(t *testing.T) {
	rdb, prefix := testRedis(t)
	a := NewLimiter(rdb, prefix, func(err error) { t.Errorf("redis error: %v", err) })
	b := NewLimiter(rdb, prefix, nil)
	r := Rate{PerSecond: 0.5, Burst: 10}
	if got := takeAll(a, "ip:1", r, 6) + takeAll(b, "ip:1", r, 6); got != 10 {
		t.Fatalf("two instances allowed %d of 12 against one bucket of 10", got)
	}
	ok, retry := b.Allow(context.Background(), "ip:1", r)
	if ok || retry <= 0 || retry > 2*time.Second {
		t.Fatalf("past the burst: ok=%v retry=%v, want refused with retry ≤ 2s", ok, retry)
	}
	if got := takeAll(a, "ip:2", r, 3); got != 3 {
		t.Fatalf("another key shares the bucket: %d of 3 allowed", got)
	}
	if ok, _ := a.Allow(context.Background(), "ip:1", Rate{}); !ok {
		t.Fatal("a zero rate must allow everything")
	}
}

func TestLimiterRefills(t *testing.T) {
	rdb, prefix := testRedis(t)
	for name, l := range map[string]*Limiter{"redis": NewLimiter(rdb, prefix, nil), "local": NewLimiter(nil, "", nil)} {
		// A token per 250 ms: five takes against Redis on a busy machine
		// must not last long enough to earn another one.
		r := Rate{PerSecond: 4, Burst: 2}
		if got := takeAll(l, "u", r, 5); got != 2 {
			t.Fatalf("%s: %d of 5 allowed with burst 2", name, got)
		}
		time.Sleep(600 * time.Millisecond) // 2.4 tokens, capped at the burst
		if got := takeAll(l, "u", r, 5); got != 2 {
			t.Fatalf("%s: %d allowed after refilling two tokens", name, got)
		}
	}
}

func TestLimiterFallsBackWhenRedisIsDown(t *testing.T) {
	var errs atomic.Int64
	l := NewLimiter(deadRedis(t), "x:", func(error) { errs.Add(1) })
	start := time.Now()
	if got := takeAll(l, "ip", Rate{PerSecond: 1, Burst: 3}, 10); got != 3 {
		t.Fatalf("local fallback allowed %d of 10 with burst 3", got)
	}
	// Two failures open the breaker: the other calls skip Redis rather
	// than each wait out the timeout.
	if errs.Load() != 2 {
		t.Fatalf("onError heard %d failures, want 2 before the breaker opened", errs.Load())
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("10 calls against a dead Redis took %v", d)
	}
}

func TestConnCounterAcrossInstances(t *testing.T) {
	rdb, prefix := testRedis(t)
	ctx := context.Background()
	onErr := func(err error) { t.Errorf("redis error: %v", err) }
	a := NewConnCounter(rdb, prefix, "a", onErr)
	b := NewConnCounter(rdb, prefix, "b", onErr)
	var releases []func()
	for i := range 3 {
		rel, ok := a.Acquire(ctx, "10.0.0.1", 5)
		if !ok {
			t.Fatalf("a: connection %d refused", i)
		}
		releases = append(releases, rel)
	}
	for i := range 2 {
		rel, ok := b.Acquire(ctx, "10.0.0.1", 5)
		if !ok {
			t.Fatalf("b: connection %d refused", i)
		}
		releases = append(releases, rel)
	}
	if _, ok := b.Acquire(ctx, "10.0.0.1", 5); ok {
		t.Fatal("b accepted a 6th connection with 3 open on a and 2 on b, limit 5")
	}
	if b.Open("10.0.0.1") != 2 {
		t.Fatalf("a refused acquire changed the local count to %d", b.Open("10.0.0.1"))
	}
	if _, ok := b.Acquire(ctx, "10.0.0.2", 5); !ok {
		t.Fatal("another address shares the count")
	}
	releases[0]()
	releases[0]() // twice must count once
	rel, ok := b.Acquire(ctx, "10.0.0.1", 5)
	if !ok {
		t.Fatal("a released slot was not reusable")
	}
	if _, ok := a.Acquire(ctx, "10.0.0.1", 5); ok {
		t.Fatal("a double release freed two slots")
	}
	rel()

	// An instance that died: its count expires (simulated by deleting it),
	// and the set entry is swept on the next acquire.
	if err := rdb.Del(ctx, a.base("10.0.0.1")+":"+a.id).Err(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, ok := b.Acquire(ctx, "10.0.0.1", 5); !ok {
			t.Fatalf("b: slot %d of a dead instance not freed", i)
		}
	}
	if members := rdb.SMembers(ctx, a.base("10.0.0.1")).Val(); len(members) != 1 || members[0] != b.id {
		t.Fatalf("the dead instance was not swept from the set: %v", members)
	}

	// Redis lost everything (a restart): the heartbeat rewrites a's counts
	// from its local truth.
	if err := rdb.Del(ctx, a.base("10.0.0.1"), a.base("10.0.0.1")+":"+b.id).Err(); err != nil {
		t.Fatal(err)
	}
	b.renew(ctx)
	if got := rdb.Get(ctx, b.base("10.0.0.1")+":"+b.id).Val(); got != "5" {
		t.Fatalf("after renew b's count in Redis is %q, want 5", got)
	}
	if _, ok := a.Acquire(ctx, "10.0.0.1", 5); ok {
		t.Fatal("a: a 6th accepted after b's 5 were restored")
	}
}

func TestConnCounterWithoutRedis(t *testing.T) {
	for name, rdb := range map[string]redis.UniversalClient{"none": nil, "down": deadRedis(t)} {
		c := NewConnCounter(rdb, "x:", "i", nil)
		rels := make([]func(), 0, 2)
		for range 2 {
			rel, ok := c.Acquire(context.Background(), "ip", 2)
			if !ok {
				t.Fatalf("%s: refused below the limit", name)
			}
			rels = append(rels, rel)
		}
		if _, ok := c.Acquire(context.Background(), "ip", 2); ok {
			t.Fatalf("%s: a third connection accepted with limit 2", name)
		}
		rels[1]()
		if _, ok := c.Acquire(context.Background(), "ip", 2); !ok {
			t.Fatalf("%s: refused after a release", name)
		}
		if _, ok := c.Acquire(context.Background(), "other", 0); !ok {
			t.Fatalf("%s: limit 0 must not limit", name)
		}
	}
}

func TestClientKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":            "192.0.2.7",
		"::ffff:192.0.2.7":     "192.0.2.7",
		"192.0.2.7:5000":       "192.0.2.7",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2::9":      "2001:db8:1:2::/64",
		"[2001:db8::1]:443":    "2001:db8::/64",
		"not an address":       "not an address",
	} {
		if got := ClientKey(in); got != want {
			t.Errorf("ClientKey(%q) = %q, want %q", in, got, want)
		}
	}
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]float64{"20": 20, "20/s": 20, "6/m": 0.1, "36/h": 0.01, "0.5": 0.5, "off": -1, "-1": -1} {
		r, err := ParseRate(in)
		if err != nil || r.PerSecond != want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v/s", in, r, err, want)
		}
	}
	for _, in := range []string{"", "0", "x", "5/d", "NaN", "Inf/s", "1/s/s"} {
		if r, err := ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q) = %v, want an error", in, r)
		}
	}
}

// TestPeek: Peek tells whether a token is left without taking it, in Redis
// and in the local fallback alike.
func TestPeek(t *testing.T) {
	rdb, prefix := testRedis(t)
	for name, l := range map[string]*Limiter{"redis": NewLimiter(rdb, prefix, nil), "local": NewLimiter(nil, "", nil)} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			r := Rate{PerSecond: 1.0 / 60, Burst: 3}
			for i := range 10 {
				if ok, _ := l.Peek(ctx, "acct", r); !ok {
					t.Fatalf("peek %d on a fresh bucket refused", i)
				}
			}
			if got := takeAll(l, "acct", r, 2); got != 2 {
				t.Fatalf("took %d of 2", got)
			}
			if ok, _ := l.Peek(ctx, "acct", r); !ok {
				t.Fatal("peek refused with one token left")
			}
			takeAll(l, "acct", r, 1)
			ok, retry := l.Peek(ctx, "acct", r)
			if ok || retry <= 0 || retry > time.Minute {
				t.Fatalf("peek on an empty bucket: ok=%v retry=%v, want refused within a minute", ok, retry)
			}
			if ok, _ := l.Peek(ctx, "other", r); !ok {
				t.Fatal("another key refused")
			}
		})
	}
}

// A deployment's keys must all start with its prefix (redis_prefix): no
// library namespace of its own in front (redis_rate put "rate:" there).
func TestKeysStartWithPrefix(t *testing.T) {
	rdb, prefix := testRedis(t)
	ctx := context.Background()
	l := NewLimiter(rdb, prefix+"rl:", func(err error) { t.Errorf("redis error: %v", err) })
	c := NewConnCounter(rdb, prefix+"conns:", "i", func(err error) { t.Errorf("redis error: %v", err) })
	if ok, _ := l.Allow(ctx, "ip:keys", Rate{PerSecond: 1, Burst: 2}); !ok {
		t.Fatal("first request refused")
	}
	release, ok := c.Acquire(ctx, "ip:keys", 5)
	if !ok {
		t.Fatal("first connection refused")
	}
	defer release()
	// The keys hold the marker "ip:keys"; list every key that does.
	var keys []string
	iter := rdb.Scan(ctx, 0, "*ip:keys*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	var rl, conns bool
	for _, k := range keys {
		if !strings.HasPrefix(k, prefix) {
			if strings.Contains(k, prefix) {
				t.Errorf("key %q does not start with the prefix %q", k, prefix)
			}
			continue // another run's
		}
		rl = rl || strings.HasPrefix(k, prefix+"rl:")
		conns = conns || strings.HasPrefix(k, prefix+"conns:")
	}
	if !rl || !conns {
		t.Fatalf("want a rate key and a connection key under %q, found %q", prefix, keys)
	}
}
