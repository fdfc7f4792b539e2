package caddymodule

import (
	"encoding/json"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// adaptShipped adapts the repository's Caddyfile (with the environment as
// it is now), returning the JSON config and the adapter's warnings.
func adaptShipped(t *testing.T) ([]byte, []caddyconfig.Warning) {
	t.Helper()
	b, err := os.ReadFile("../Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	j, warns, err := caddyconfig.GetAdapter("caddyfile").Adapt(b, map[string]any{"filename": "Caddyfile"})
	if err != nil {
		t.Fatalf("adapt: %v", err)
	}
	return j, warns
}

// recorder is a TCP listener that counts the connections it accepts.
type recorder struct {
	l     net.Listener
	mu    sync.Mutex
	count int
}

func newRecorder(t *testing.T) *recorder {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{l: l}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			r.mu.Lock()
			r.count++
			r.mu.Unlock()
			c.Close()
		}
	}()
	t.Cleanup(func() { l.Close() })
	return r
}

func (r *recorder) addr() string { return r.l.Addr().String() }

func (r *recorder) accepted() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.count
}

// TestValidateConnectsNowhere: `caddy validate` of the shipped Caddyfile
// with Redis and Postgres (primary and replica) configured provisions and
// cleans up every module (the chat app, the chat handlers, chat_cache on
// the app's Redis) without opening a single connection: no presence
// heartbeat, no pub/sub subscription, no pool connection, not even after
// cleanup. The "servers" are listeners of the test's own that count what
// they accept.
func TestValidateConnectsNowhere(t *testing.T) {
	rds, pg, replica := newRecorder(t), newRecorder(t), newRecorder(t)
	t.Setenv("CHATGATE_REDIS", "redis://"+rds.addr()+"/0")
	t.Setenv("CHATGATE_POSTGRES", "postgres://postgres@"+pg.addr()+"/chatgate?sslmode=disable")
	t.Setenv("CHATGATE_POSTGRES_REPLICA", "postgres://postgres@"+replica.addr()+"/chatgate?sslmode=disable")
	t.Setenv("CHATGATE_DATA_DIR", t.TempDir())
	j, _ := adaptShipped(t)
	var c caddy.Config
	if err := json.Unmarshal(j, &c); err != nil {
		t.Fatal(err)
	}
	if err := caddy.Validate(&c); err != nil {
		t.Fatalf("validate: %v", err)
	}
	// Anything started in the background would dial within this.
	time.Sleep(500 * time.Millisecond)
	for name, r := range map[string]*recorder{"redis": rds, "postgres": pg, "postgres replica": replica} {
		if n := r.accepted(); n != 0 {
			t.Errorf("%s accepted %d connections during caddy validate", name, n)
		}
	}
}
