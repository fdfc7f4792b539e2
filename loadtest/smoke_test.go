package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chatgate/chatgate/internal/freeport"
)

// TestSmoke is issue 3's smoke run inside `make test`: the real gateway
// binary from the shipped Caddyfile, 200 users in 20 rooms for 20 s, and the
// tool's own verdict: exit 0 means every send acked and every delivery
// exactly once, in order, with no leak.
func TestSmoke(t *testing.T) {
	r, raw := runSmoke(t, "-duration", "20s")
	t.Logf("smoke: %d users, %d sent, %d delivered, p50 %.1f ms, p99 %.1f ms", r.UsersConnected, r.Sent, r.Delivered, r.LatencyMS.P50, r.LatencyMS.P99)
	if r.UsersConnected != 200 || r.Sent < 1500 || r.Acked != r.Sent || r.Lost != 0 || r.Duplicated != 0 ||
		r.Reordered != 0 || r.Delivered != r.ExpectedDeliveries {
		t.Fatalf("result %s", raw)
	}
}

// TestSmokeMix is issue 15's smoke run: the same gateway, sends mixed with
// edits, deletes and reactions. Every stream entry, message or event, is
// delivered to every member once and in seq order; each kind is delivered
// with a latency; no reaction was a noop, nothing was refused.
func TestSmokeMix(t *testing.T) {
	r, raw := runSmoke(t, "-duration", "15s", "-mix", "send=60,react=20,edit=10,delete=10")
	t.Logf("smoke mix: %d sent, %d delivered, ops %v, by kind %v", r.Sent, r.Delivered, r.Ops, r.LatencyByKindMS)
	if r.UsersConnected != 200 || r.Sent < 1000 || r.Acked != r.Sent || r.SendErrors != 0 || r.Lost != 0 ||
		r.Duplicated != 0 || r.Reordered != 0 || r.Delivered != r.ExpectedDeliveries {
		t.Fatalf("result %s", raw)
	}
	var sum, entries int64
	for _, k := range kindNames {
		if r.LatencyByKindMS[k].Count == 0 {
			t.Errorf("no %s delivered", k)
		}
		entries += r.LatencyByKindMS[k].Count
	}
	for _, op := range []string{"send", "react", "unreact", "edit", "delete"} {
		if r.Ops[op] == 0 {
			t.Errorf("no %s written", op)
		}
		sum += r.Ops[op]
	}
	if r.Ops["noop"] != 0 || sum+r.Ops["fallback_send"] != r.Sent {
		t.Errorf("ops %v do not add up to %d sent, or were noops", r.Ops, r.Sent)
	}
	if entries != r.Delivered {
		t.Errorf("latency samples by kind %d, deliveries %d: an entry without its intended time", entries, r.Delivered)
	}
	// Every member of a room of 10 gets each entry.
	if want := (r.Ops["react"] + r.Ops["unreact"]) * 10; r.LatencyByKindMS["react"].Count != want {
		t.Errorf("reactions delivered %d, want %d (10 members each)", r.LatencyByKindMS["react"].Count, want)
	}
}

// runSmoke runs the tool against a fresh gateway, 200 users in 20 rooms at
// 100 operations/s, plus args; the tool's own verdict must be exit 0.
func runSmoke(t *testing.T, args ...string) (*Result, []byte) {
	base, admin, ops := startSmokeGateway(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "r.json")
	code := realMain(append([]string{"-url", base, "-admin", admin, "-metrics", ops,
		"-users", "200", "-rooms", "20", "-rate", "100", "-ramp", "2s",
		"-json", out, "-html", filepath.Join(dir, "r.html"), "-q"}, args...))
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("no result (exit %d): %v", code, err)
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if code != 0 {
		t.Fatalf("loadtest exit %d: %s", code, b)
	}
	return &r, b
}

// startSmokeGateway builds the gateway and runs it from the shipped
// Caddyfile on ports of its own; it returns the site, admin and /metrics
// URLs.
func startSmokeGateway(t *testing.T) (base, admin, metrics string) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "caddy")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/caddy").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	port, adminPort, ops := smokePort(t), smokePort(t), smokePort(t)
	dsn := os.Getenv("CHATGATE_TEST_SMOKE_POSTGRES")
	if dsn == "" {
		dsn = "postgres://postgres@127.0.0.1:5432/chatgate_test_smoke?sslmode=disable"
	}
	cmd := exec.Command(bin, "run", "--config", "../Caddyfile")
	cmd.Env = append(os.Environ(),
		fmt.Sprintf("CHATGATE_ADDR=:%d", port), fmt.Sprintf("CHATGATE_ADMIN=127.0.0.1:%d", adminPort),
		fmt.Sprintf("CHATGATE_OPS_ADDR=127.0.0.1:%d", ops),
		"CHATGATE_POSTGRES="+dsn, "CHATGATE_SECRET=smoke-test-secret-0123456789abcdef",
		"CHATGATE_WEB_ROOT="+dir, "CHATGATE_DATA_DIR="+dir, "CHATGATE_REDIS=",
		// 200 users register from the generator's 16 addresses.
		"CHATGATE_AUTH_IP_RATE=off")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	base = fmt.Sprintf("http://127.0.0.1:%d", port)
	for i := 0; ; i++ {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if i > 300 {
			t.Fatal("gateway not ready")
		}
		time.Sleep(100 * time.Millisecond)
	}
	return base, fmt.Sprintf("http://127.0.0.1:%d", adminPort), fmt.Sprintf("http://127.0.0.1:%d/metrics", ops)
}

func smokePort(t *testing.T) int {
	return freeport.Take(t)
}
