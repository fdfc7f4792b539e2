package cachemw

import (
	"context"
	"sort"
	"testing"
	"time"
)

// reportLatency adds p50/p99 (µs) of the samples to the benchmark output.
func reportLatency(b *testing.B, samples []time.Duration) {
	if len(samples) == 0 {
		return
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	q := func(p float64) float64 { return float64(samples[int(p*float64(len(samples)-1))].Nanoseconds()) / 1e3 }
	b.ReportMetric(q(0.50), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
}

// BenchmarkRedisLookup is one cache lookup on the machine's Redis: GET entry
// plus two tag versions in one pipelined round trip.
func BenchmarkRedisLookup(b *testing.B) {
	st := NewRedis(sharedRedis(b), testPrefix(b))
	ctx := context.Background()
	tags := []string{"room:1", EpochTag}
	_, versions, _ := st.Lookup(ctx, "k", tags)
	e := (&entry{stored: time.Now(), expires: time.Now().Add(time.Hour), status: 200, tags: tags, versions: versions,
		body: make([]byte, 600)}).encode()
	if err := st.Store(ctx, "k", e, time.Hour); err != nil {
		b.Fatal(err)
	}
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := time.Now()
		if _, _, err := st.Lookup(ctx, "k", tags); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, time.Since(s))
	}
	reportLatency(b, samples)
}

// BenchmarkRedisBump is one tag bump (a write's invalidation).
func BenchmarkRedisBump(b *testing.B) {
	st := NewRedis(sharedRedis(b), testPrefix(b))
	samples := make([]time.Duration, 0, b.N)
	for i := 0; i < b.N; i++ {
		s := time.Now()
		if err := st.Bump(context.Background(), []string{"room:1", "rooms:list"}); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, time.Since(s))
	}
	reportLatency(b, samples)
}

// BenchmarkHit is a full HIT through the middleware (no network to the
// client), per storage.
func BenchmarkHit(b *testing.B) {
	for _, st := range []struct {
		name string
		s    func() Storage
	}{{"redis", func() Storage { return NewRedis(sharedRedis(b), testPrefix(b)) }}, {"memory", func() Storage { return NewMemory(0) }}} {
		b.Run(st.name, func(b *testing.B) {
			h := newCache(b, st.s()).Middleware(roomRoute(), &origin{})
			get(b, h, "GET", "/api/rooms/1", "alice")
			samples := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s := time.Now()
				r := get(b, h, "GET", "/api/rooms/1", "alice")
				samples = append(samples, time.Since(s))
				if r.header.Get(XCacheHeader) != "HIT" {
					b.Fatal("not a hit")
				}
			}
			reportLatency(b, samples)
		})
	}
}

// BenchmarkWriteThenRead: instance A bumps a tag, instance B (own client)
// reads: the time until B serves fresh data (bump + lookup + origin + store).
func BenchmarkWriteThenRead(b *testing.B) {
	prefix := testPrefix(b)
	o := &origin{}
	ca, cb := newCache(b, NewRedis(sharedRedis(b), prefix)), newCache(b, NewRedis(sharedRedis(b), prefix))
	hb := cb.Middleware(roomRoute(), o)
	get(b, hb, "GET", "/api/rooms/1", "alice")
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		o.version.Add(1)
		s := time.Now()
		if err := ca.Invalidate(context.Background(), "room:1"); err != nil {
			b.Fatal(err)
		}
		get(b, hb, "GET", "/api/rooms/1", "alice")
		samples = append(samples, time.Since(s))
	}
	reportLatency(b, samples)
}
