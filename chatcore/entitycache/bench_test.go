package entitycache

import (
	"context"
	"sort"
	"strconv"
	"testing"
	"time"
)

// BenchmarkCrossInstanceInvalidation: instance A invalidates an id, instance
// B (own client and subscription) drops it from its LRU. Reports the
// publish-to-drop latency.
func BenchmarkCrossInstanceInvalidation(b *testing.B) {
	name := uniqueName(b)
	a, bb := newInstance(b, "127.0.0.1:6379", name), newInstance(b, "127.0.0.1:6379", name)
	got := make(chan time.Time, 1)
	bb.cache.OnInvalidate = func([]string) {
		select {
		case got <- time.Now():
		default:
		}
	}
	samples := make([]time.Duration, 0, b.N)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := time.Now()
		if err := a.cache.Invalidate(ctx, strconv.Itoa(i)); err != nil {
			b.Fatal(err)
		}
		select {
		case t := <-got:
			samples = append(samples, t.Sub(s))
		case <-time.After(time.Second):
			b.Fatal("invalidation not received")
		}
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	q := func(p float64) float64 { return float64(samples[int(p*float64(len(samples)-1))].Nanoseconds()) / 1e3 }
	b.ReportMetric(q(0.5), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
}

// BenchmarkGet is an entity read per level.
func BenchmarkGet(b *testing.B) {
	a := newInstance(b, "127.0.0.1:6379", uniqueName(b))
	d := &db{}
	ctx := context.Background()
	a.cache.Get(ctx, "1", d.one)
	b.Run("lru", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			a.cache.Get(ctx, "1", d.one)
		}
	})
	b.Run("redis", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			a.cache.l1.clear()
			a.cache.Get(ctx, "1", d.one)
		}
	})
}
