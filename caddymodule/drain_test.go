package caddymodule_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chatgate/chatgate/internal/testenv"
)

// TestGracefulDrain runs the real binary with the shipped Caddyfile and
// sends it SIGTERM: /readyz must turn 503 while connections still work
// (shutdown_delay), then every WebSocket gets 1001, in paced batches, and
// every acked message is in the store.
func TestGracefulDrain(t *testing.T) {
	bin := testenv.BuildGateway(t)
	s := &server{port: freePort(t), admin: freePort(t)}
	s.base = fmt.Sprintf("http://127.0.0.1:%d", s.port)
	s.ws = fmt.Sprintf("ws://127.0.0.1:%d/ws", s.port)
	web := t.TempDir()
	if err := os.WriteFile(filepath.Join(web, "index.html"), []byte("<!doctype html><title>t</title>"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", "../Caddyfile")
	cmd.Env = append(os.Environ(),
		fmt.Sprintf("CHATGATE_ADDR=:%d", s.port), fmt.Sprintf("CHATGATE_ADMIN=127.0.0.1:%d", s.admin),
		fmt.Sprintf("CHATGATE_OPS_ADDR=127.0.0.1:%d", freePort(t)),
		"CHATGATE_POSTGRES="+testDSN, "CHATGATE_SECRET="+testSecret, "CHATGATE_SHUTDOWN_DELAY=2s",
		"CHATGATE_WEB_ROOT="+web, "CHATGATE_DATA_DIR="+t.TempDir(), "CHATGATE_REDIS=")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	waitReady(t, s.base)

	ann := s.register(t, "Ann")
	room := ann.createRoom(t, "drain", false)
	const clients = 300
	var ws []*wsClient
	for i := 0; i < clients; i++ {
		w := ann.dial(t)
		w.subscribe(t, room, nil)
		ws = append(ws, w)
	}
	// Messages acked right before the signal must all be stored.
	for i := 0; i < 20; i++ {
		ws[0].send(t, map[string]any{"type": "send", "room": room, "body": "before drain", "cid": fmt.Sprint(i)})
	}
	for acks := 0; acks < 20; {
		if ws[0].next(t, "ack", "message").Type == "ack" {
			acks++
		}
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Within shutdown_delay: not ready, but still serving.
	sawNotReady := false
	for i := 0; i < 30 && !sawNotReady; i++ {
		resp, err := http.Get(s.base + "/readyz")
		if err == nil {
			sawNotReady = resp.StatusCode == 503
			resp.Body.Close()
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !sawNotReady {
		t.Fatal("/readyz never answered 503 during shutdown_delay")
	}
	if r := s.call(t, "GET", "/healthz", "", nil); r.status != 200 {
		t.Fatalf("healthz during delay: %d", r.status)
	}

	var mu sync.Mutex
	var closedAt []time.Time
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := w.closed(t, 20*time.Second)
			if code := closeCode(err); code != 1001 {
				t.Errorf("close code %d (%v), want 1001", code, err)
			}
			mu.Lock()
			closedAt = append(closedAt, time.Now())
			mu.Unlock()
		}()
	}
	wg.Wait()
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatal("gateway did not exit")
	}
	sort.Slice(closedAt, func(i, j int) bool { return closedAt[i].Before(closedAt[j]) })
	if spread := closedAt[len(closedAt)-1].Sub(closedAt[0]); spread < 80*time.Millisecond {
		t.Errorf("all %d closes within %v: not paced", len(closedAt), spread)
	}

	// The record survived: a fresh in-process server on the same database
	// sees all 20 messages.
	s2 := startServer(t, "")
	r := s2.raw(t, "GET", fmt.Sprintf("/api/rooms/%d/messages?limit=50", room), ann.token, nil)
	if r.status != 200 || strings.Count(string(r.body), "before drain") != 20 {
		t.Fatalf("after drain: %d %s", r.status, r.body)
	}
}
