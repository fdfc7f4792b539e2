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
	dir := t.TempDir()
	bin := filepath.Join(dir, "caddy")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/caddy").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	port, admin, ops := smokePort(t), smokePort(t), smokePort(t)
	dsn := os.Getenv("CHATGATE_TEST_SMOKE_POSTGRES")
	if dsn == "" {
		dsn = "postgres://postgres@127.0.0.1:5432/chatgate_test_smoke?sslmode=disable"
	}
	cmd := exec.Command(bin, "run", "--config", "../Caddyfile")
	cmd.Env = append(os.Environ(),
		fmt.Sprintf("CHATGATE_ADDR=:%d", port), fmt.Sprintf("CHATGATE_ADMIN=127.0.0.1:%d", admin),
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
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
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

	out := filepath.Join(dir, "r.json")
	code := realMain([]string{"-url", base, "-admin", fmt.Sprintf("http://127.0.0.1:%d", admin),
		"-metrics", fmt.Sprintf("http://127.0.0.1:%d/metrics", ops),
		"-users", "200", "-rooms", "20", "-rate", "100", "-duration", "20s", "-ramp", "2s",
		"-json", out, "-html", filepath.Join(dir, "r.html"), "-q"})
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("no result (exit %d): %v", code, err)
	}
	var r struct {
		UsersConnected     int   `json:"users_connected"`
		Sent               int64 `json:"sent"`
		Acked              int64 `json:"acked"`
		ExpectedDeliveries int64 `json:"expected_deliveries"`
		Delivered          int64 `json:"delivered"`
		Lost               int64 `json:"lost"`
		Duplicated         int64 `json:"duplicated"`
		Reordered          int64 `json:"reordered"`
		LatencyMS          struct {
			P50, P99 float64
		} `json:"latency_ms"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	t.Logf("smoke: %d users, %d sent, %d delivered, p50 %.1f ms, p99 %.1f ms", r.UsersConnected, r.Sent, r.Delivered, r.LatencyMS.P50, r.LatencyMS.P99)
	if code != 0 {
		t.Fatalf("loadtest exit %d: %s", code, b)
	}
	if r.UsersConnected != 200 || r.Sent < 1500 || r.Acked != r.Sent || r.Lost != 0 || r.Duplicated != 0 ||
		r.Reordered != 0 || r.Delivered != r.ExpectedDeliveries {
		t.Fatalf("result %s", b)
	}
}

func smokePort(t *testing.T) int {
	return freeport.Take(t)
}
