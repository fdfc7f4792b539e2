package limits

import (
	"context"
	"strconv"
	"testing"
)

// BenchmarkLimiter is the cost a limit adds to a request: one GCRA call in
// Redis (a round trip and a Lua script), or a local bucket.
func BenchmarkLimiter(b *testing.B) {
	rdb, prefix := testRedis(b)
	r := Rate{PerSecond: 1e9, Burst: 1 << 30}
	for name, l := range map[string]*Limiter{"redis": NewLimiter(rdb, prefix, nil), "local": NewLimiter(nil, "", nil)} {
		b.Run(name, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					if ok, _ := l.Allow(context.Background(), "k"+strconv.Itoa(i%1000), r); !ok {
						b.Fatal("refused")
					}
				}
			})
		})
	}
}

// BenchmarkConnCounter is the cost of admitting and releasing one
// connection with Redis.
func BenchmarkConnCounter(b *testing.B) {
	rdb, prefix := testRedis(b)
	c := NewConnCounter(rdb, prefix, "bench", nil)
	for i := 0; i < b.N; i++ {
		release, ok := c.Acquire(context.Background(), "10.0.0."+strconv.Itoa(i%200), 1<<20)
		if !ok {
			b.Fatal("refused")
		}
		release()
	}
}
