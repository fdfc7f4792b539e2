package socket

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestRegistryAddRemove(t *testing.T) {
	r := NewRegistry()
	var removes []func()
	for range 40 { // more than the shards
		removes = append(removes, r.Add(&Conn{}))
	}
	if r.Len() != 40 {
		t.Fatalf("Len %d", r.Len())
	}
	for _, rm := range removes {
		rm()
	}
	if r.Len() != 0 {
		t.Fatalf("Len %d after removing all", r.Len())
	}
}

// CloseAll closes batch connections at a time with pause between batches:
// never more than one batch before the first pause, the whole drain takes
// the pauses, and every client gets the code.
func TestCloseAllPaced(t *testing.T) {
	const n, batch, pause = 10, 3, 200 * time.Millisecond
	r := NewRegistry()
	type closed struct {
		at   time.Time
		code int
	}
	got := make(chan closed, n)
	for range n {
		p := newPair(t, Config{}, false)
		r.Add(p.srv)
		go func() {
			for {
				if _, _, err := p.client.ReadMessage(); err != nil {
					code := 0
					if ce, ok := err.(*websocket.CloseError); ok {
						code = ce.Code
					}
					got <- closed{time.Now(), code}
					return
				}
			}
		}()
	}
	start := time.Now()
	r.CloseAll(context.Background(), websocket.CloseGoingAway, "drain", batch, pause)
	took := time.Since(start)
	if want := 3 * pause; took < want { // 4 batches, 3 pauses
		t.Fatalf("CloseAll took %v, want at least %v", took, want)
	}
	early := 0
	for range n {
		c := <-got
		if c.code != websocket.CloseGoingAway {
			t.Fatalf("close code %d, want 1001", c.code)
		}
		if c.at.Sub(start) < pause/2 {
			early++
		}
	}
	if early > batch {
		t.Fatalf("%d connections closed before the first pause, batch is %d", early, batch)
	}
}

// A drain whose context ends aborts the connections not reached yet, at
// once, with the same code.
func TestCloseAllCancelled(t *testing.T) {
	r := NewRegistry()
	var pairs []*pair
	for range 6 {
		p := newPair(t, Config{}, false)
		r.Add(p.srv)
		pairs = append(pairs, p)
		go func() {
			for {
				if _, _, err := p.client.ReadMessage(); err != nil {
					return
				}
			}
		}()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	r.CloseAll(ctx, 4000, "cut", 2, time.Hour)
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("CloseAll ran %v past its context", d)
	}
	for _, p := range pairs {
		select {
		case <-p.srv.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("a connection survived the cancelled drain")
		}
		if p.srv.CloseCode() != 4000 {
			t.Fatalf("close code %d", p.srv.CloseCode())
		}
	}
}

// Heartbeat pings every registered connection about once per interval.
func TestHeartbeatPingsAll(t *testing.T) {
	const n, interval = 5, 320 * time.Millisecond
	r := NewRegistry()
	var mu sync.Mutex
	pings := map[int]int{}
	for i := range n {
		p := newPair(t, Config{}, false)
		r.Add(p.srv)
		p.client.SetPingHandler(func(string) error {
			mu.Lock()
			pings[i]++
			mu.Unlock()
			return nil
		})
		go func() {
			for {
				if _, _, err := p.client.ReadMessage(); err != nil {
					return
				}
			}
		}()
	}
	ctx, cancel := context.WithCancel(context.Background())
	go r.Heartbeat(ctx, interval)
	time.Sleep(3*interval + interval/2)
	cancel()
	mu.Lock()
	defer mu.Unlock()
	for i := range n {
		if pings[i] < 2 || pings[i] > 4 {
			t.Fatalf("connection %d got %d pings in 3.5 intervals: %v", i, pings[i], pings)
		}
	}
}
