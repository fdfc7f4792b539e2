package gateway

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/chatcore/limits"
	"github.com/chatgate/chatgate/chatcore/store"
	"github.com/chatgate/chatgate/internal/testenv"
)

// TestLimitsAcrossInstances: two instances share one Redis, so the
// per-address connection cap and the per-user request rate hold for the
// pair, not for each; with Redis gone each instance limits on its own.
func TestLimitsAcrossInstances(t *testing.T) {
	rs := testenv.StartRedis(t)
	newClient := func() redis.UniversalClient { return outageClient(rs) }
	cfg := APIConfig{Limits: Limits{IPConns: 3, UserRequestRate: limits.Rate{PerSecond: 1.0 / 60, Burst: 4}}}
	a := startInstanceWith(t, "a", newClient(), cfg)
	b := startInstanceWith(t, "b", newClient(), cfg)
	st, err := store.New(store.Config{DSN: testDSN(), MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	user, _ := seedUsersAndRoom(t, st, 1)
	tok, _ := a.core.Signer.Issue(user.ID, user.Name)

	dial := func(in *instance) (*websocket.Conn, int) {
		url := "ws" + strings.TrimPrefix(in.srv.URL, "http") + "/ws?token=" + tok
		c, resp, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			if resp == nil {
				t.Fatalf("dial: %v", err)
			}
			return nil, resp.StatusCode
		}
		t.Cleanup(func() { c.Close() })
		return c, http.StatusSwitchingProtocols
	}
	var open []*websocket.Conn
	for i, in := range []*instance{a, a, b} {
		c, code := dial(in)
		if c == nil {
			t.Fatalf("connection %d refused: %d", i, code)
		}
		open = append(open, c)
	}
	for name, in := range map[string]*instance{"a": a, "b": b} {
		if _, code := dial(in); code != http.StatusTooManyRequests {
			t.Fatalf("4th connection from one address on %s: %d, want 429", name, code)
		}
	}
	// A closed connection on a frees a slot on b.
	_ = open[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if c, _ := dial(b); c != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a slot freed on a never became usable on b")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Per-user REST rate: 4 tokens for the pair.
	get := func(in *instance) int {
		req, _ := http.NewRequest("GET", in.srv.URL+"/api/rooms", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	var codes []int
	for _, in := range []*instance{a, b, a, b, a, b} {
		codes = append(codes, get(in))
	}
	if fmt.Sprint(codes) != "[200 200 200 200 429 429]" {
		t.Fatalf("user requests across two instances: %v, want 4 allowed", codes)
	}

	// Redis down: each instance falls back to its own buckets and counts
	// (a has 1 open of 3, so 2 more; b has 2, so 1 more), and nothing hangs.
	rs.Stop()
	start := time.Now()
	for name, want := range map[*instance]int{a: 2, b: 1} {
		got := 0
		for range 4 {
			if c, _ := dial(name); c != nil {
				got++
			}
		}
		if got != want {
			t.Fatalf("with Redis down an instance accepted %d more, want %d (its local cap)", got, want)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("admission with Redis down took %v", d)
	}
	if code := get(a); code != 200 {
		t.Fatalf("REST with Redis down: %d (the local bucket is fresh)", code)
	}
}
