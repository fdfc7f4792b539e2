package caddymodule_test

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"
)

// BenchmarkCaddyGET: GET /api/rooms/{id}, its newest 50 messages (both
// composed per answer) and the room list (the 100 rooms it creates plus
// the test database's others, composed per answer from its stored part,
// decoded once) through Caddy (encode, the cache,
// the chat handler), cached (Redis storage, HIT) and uncached (the same
// API on a site without chat_cache). Two measurements per variant:
//
//	paced:  2,000 req/s for 3 s from 32 workers, p50/p95/p99 latency
//	closed: 16 workers as fast as possible, req/s
//
// One user sends every request, so the per-user and per-address request
// limits (100/s and 300/s by default) are off on both sites: the benchmark
// measures serving, not refusing.
//
// Run: go test -run XXX -bench CaddyGET -benchtime 1x ./caddymodule
func BenchmarkCaddyGET(b *testing.B) {
	s, _, uncached := startCacheServerWith(b, cacheServerOpts{handler: "user_request_rate off\n\t\t\tip_request_rate off"})
	ann := s.register(b, "Bench")
	room := ann.createRoom(b, "bench", false)
	for i := 0; i < 50; i++ {
		ann.call(b, "POST", fmt.Sprintf("/api/rooms/%d/messages", room), map[string]string{"body": fmt.Sprint("message ", i), "cid": fmt.Sprint(i)})
	}
	for i := 0; i < 99; i++ {
		ann.createRoom(b, fmt.Sprint("bench ", i), i%10 == 0)
	}
	for _, p := range []struct{ name, path string }{{"room", fmt.Sprintf("/api/rooms/%d", room)},
		{"messages50", fmt.Sprintf("/api/rooms/%d/messages?limit=50", room)}, {"rooms", "/api/rooms"}} {
		b.Run(p.name, func(b *testing.B) { benchCaddyGET(b, ann, s.base, uncached, p.path) })
	}
}

func benchCaddyGET(b *testing.B, ann *client, cached, uncached, path string) {
	ann.call(b, "GET", path, nil)
	tr := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	client := &http.Client{Transport: tr}
	ok200 := func(base string) (time.Duration, bool, bool) {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+ann.token)
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, false, false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return time.Since(start), resp.StatusCode == 200, base == uncached || resp.Header.Get("X-Cache") == "HIT"
	}
	get := func(base string) (time.Duration, bool) {
		d, ok, hit := ok200(base)
		return d, ok && hit
	}
	for _, v := range []struct{ name, base string }{{"cached", cached}, {"uncached", uncached}} {
		b.Run(v.name+"/paced-2000rps", func(b *testing.B) {
			const rate, dur, workers = 2000, 3 * time.Second, 32
			n := int(rate * dur / time.Second)
			lat := make([]time.Duration, n)
			var bad, notHit int
			var mu sync.Mutex
			jobs := make(chan int, n)
			var wg sync.WaitGroup
			for w := 0; w < workers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range jobs {
						d, ok, hit := ok200(v.base)
						lat[i] = d
						if !ok || !hit {
							mu.Lock()
							if !ok {
								bad++
							} else {
								notHit++
							}
							mu.Unlock()
						}
					}
				}()
			}
			start := time.Now()
			for i := 0; i < n; i++ {
				time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / rate)))
				jobs <- i
			}
			close(jobs)
			wg.Wait()
			if bad > 0 {
				b.Fatalf("%d of %d requests not 200", bad, n)
			}
			// A storage call past the cache's timeout (25 ms) is a BYPASS,
			// served by the API: counted, and in the latencies, not a
			// failure (a loaded machine has a few).
			b.ReportMetric(float64(notHit), "not-hit")
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			q := func(p float64) float64 { return float64(lat[int(p*float64(n-1))].Microseconds()) / 1000 }
			b.ReportMetric(q(.5), "p50-ms")
			b.ReportMetric(q(.95), "p95-ms")
			b.ReportMetric(q(.99), "p99-ms")
		})
		b.Run(v.name+"/closed-16", func(b *testing.B) {
			const workers, dur = 16, 3 * time.Second
			var wg sync.WaitGroup
			var mu sync.Mutex
			total := 0
			deadline := time.Now().Add(dur)
			for w := 0; w < workers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					n := 0
					for time.Now().Before(deadline) {
						if _, ok := get(v.base); ok {
							n++
						}
					}
					mu.Lock()
					total += n
					mu.Unlock()
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(total)/dur.Seconds(), "req/s")
		})
	}
}
