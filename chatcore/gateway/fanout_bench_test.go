package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/chatgate/chatgate/chatcore"
	"github.com/chatgate/chatgate/chatcore/store"
)

// BenchmarkHubFanout: one room with 1,000 real WebSocket subscribers on
// loopback (the clients, decoding every frame, share the two cores); each op
// is one committed message handed to the hub, done when every subscriber
// has read it. window=1 sends the next message only then (latency of one
// broadcast); window=16 keeps 16 in flight (throughput). Reports
// deliveries/s and per-message fan-out latency (hub to the last
// subscriber's read) p50/p99.
func BenchmarkHubFanout(b *testing.B) {
	for _, w := range []int{1, 16} {
		b.Run(fmt.Sprintf("window=%d", w), func(b *testing.B) { benchFanout(b, w) })
	}
}

func benchFanout(b *testing.B, window int) {
	const subs = 1000
	core, err := New(Config{Store: store.Config{DSN: testDSN(), MaxConns: 4}, Secret: []byte("bench-secret-0123456789")})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := core.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer core.Stop(ctx)
	api := NewAPI(core, APIConfig{})
	srv := httptest.NewServer(api)
	defer srv.Close()
	defer api.Close(ctx)

	u, err := core.Store.CreateUser(ctx, "fan", fmt.Sprintf("fan.%d@example.test", time.Now().UnixNano()), "x")
	if err != nil {
		b.Fatal(err)
	}
	room, err := core.Store.CreateRoom(ctx, u.ID, "fanout", false)
	if err != nil {
		b.Fatal(err)
	}
	tok, _ := core.Signer.Issue(u.ID, u.Name)
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws?token=" + tok

	var mu sync.Mutex
	remaining := map[int64]int{}
	sent := map[int64]time.Time{}
	var lat []time.Duration
	done := make(chan struct{}, 1<<20)
	var subscribed sync.WaitGroup
	subscribed.Add(subs)
	var conns []*websocket.Conn
	for i := 0; i < subs; i++ {
		c, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			b.Fatalf("dial %d: %v", i, err)
		}
		conns = append(conns, c)
		if err := c.WriteJSON(map[string]any{"type": "subscribe", "room": room.ID}); err != nil {
			b.Fatal(err)
		}
		go func() {
			type ev struct {
				Type string
				Seq  int64
			}
			first := true
			for {
				_, data, err := c.ReadMessage()
				if err != nil {
					return
				}
				var evs []ev
				if data[0] == '[' {
					_ = json.Unmarshal(data, &evs)
				} else {
					var e ev
					_ = json.Unmarshal(data, &e)
					evs = []ev{e}
				}
				for _, e := range evs {
					if e.Type == "subscribed" && first {
						first = false
						subscribed.Done()
					}
					if e.Type != "message" {
						continue
					}
					mu.Lock()
					remaining[e.Seq]--
					if remaining[e.Seq] == 0 {
						lat = append(lat, time.Since(sent[e.Seq]))
						done <- struct{}{}
					}
					mu.Unlock()
				}
			}
		}()
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	subscribed.Wait()

	body := strings.Repeat("x", 100)
	var seq atomic.Int64
	publish := func() {
		s := seq.Add(1)
		m := chatcore.Message{Room: room.ID, Seq: s, User: chatcore.UserRef{ID: u.ID, Name: u.Name}, Body: body, TS: time.Now().UTC()}
		mu.Lock()
		remaining[s] = subs
		sent[s] = time.Now()
		mu.Unlock()
		core.Hub.Deliver(&m, time.Now())
	}
	b.ResetTimer()
	start := time.Now()
	inflight := 0
	for i := 0; i < b.N; i++ {
		if inflight == window {
			<-done
			inflight--
		}
		publish()
		inflight++
	}
	for ; inflight > 0; inflight-- {
		<-done
	}
	elapsed := time.Since(start)
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(b.N*subs)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
