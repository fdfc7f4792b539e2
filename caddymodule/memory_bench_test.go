package caddymodule_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chatgate/chatgate/internal/testenv"
)

// BenchmarkIdleConnectionMemory measures the server's memory per idle
// WebSocket connection: a real ./cmd/caddy process, N subscribed clients
// (CHATGATE_BENCH_CONNS, default 10000) from this process, the server's own
// /metrics read after a forced GC before and after. Each op is one run.
func BenchmarkIdleConnectionMemory(b *testing.B) {
	n := 10000
	if v := os.Getenv("CHATGATE_BENCH_CONNS"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	bin := testenv.BuildGateway(b)
	s := &server{port: freePort(b), admin: freePort(b)}
	s.base = fmt.Sprintf("http://127.0.0.1:%d", s.port)
	s.ws = fmt.Sprintf("ws://127.0.0.1:%d/ws", s.port)
	cfgPath := filepath.Join(b.TempDir(), "Caddyfile")
	if err := os.WriteFile(cfgPath, []byte(s.caddyfile("")), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	waitReady(b, s.base)
	owner := s.register(b, "Owner")
	room := owner.createRoom(b, "idle", false)

	for i := 0; i < b.N; i++ {
		before := serverMemory(b, s)
		// dialers clients connect at once (CHATGATE_BENCH_DIALERS,
		// default 32), like a reconnect storm: conns/s is the rate the
		// server upgrades, authenticates and subscribes them.
		dialers := 32
		if v := os.Getenv("CHATGATE_BENCH_DIALERS"); v != "" {
			dialers, _ = strconv.Atoi(v)
		}
		conns := make([]net.Conn, n)
		errs := make(chan error, dialers)
		next := make(chan int)
		start := time.Now()
		for range dialers {
			go func() {
				var first error
				for j := range next { // after an error, only drain
					if first != nil {
						continue
					}
					c, err := rawSubscribe(s, owner.token, room)
					if err != nil {
						first = fmt.Errorf("conn %d: %w", j, err)
						continue
					}
					conns[j] = c
				}
				errs <- first
			}()
		}
		for j := 0; j < n; j++ {
			next <- j
		}
		close(next)
		for range dialers {
			if err := <-errs; err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "conns/s")
		time.Sleep(time.Second)
		after := serverMemory(b, s)
		for k, v := range after {
			b.ReportMetric((v-before[k])/float64(n), k+"/conn")
		}
		if path := os.Getenv("CHATGATE_BENCH_HEAP_PROFILE"); path != "" {
			resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/heap", s.admin))
			if err == nil {
				f, _ := os.Create(path)
				_, _ = io.Copy(f, resp.Body)
				f.Close()
				resp.Body.Close()
			}
		}
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}
}

// rawSubscribe upgrades by hand and subscribes, holding only a net.Conn, so
// the client side costs little; the server's side is what is measured.
func rawSubscribe(s *server, token string, room int64) (net.Conn, error) {
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.port))
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n\r\n", token)
	br := bufio.NewReaderSize(c, 256)
	status, err := br.ReadString('\n')
	if err != nil || !strings.Contains(status, "101") {
		c.Close()
		return nil, fmt.Errorf("upgrade: %q %v", status, err)
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			c.Close()
			return nil, err
		}
		if line == "\r\n" {
			break
		}
	}
	// One masked text frame: {"type":"subscribe","room":N}.
	payload := []byte(fmt.Sprintf(`{"type":"subscribe","room":%d}`, room))
	frame := []byte{0x81, 0x80 | byte(len(payload)), 0, 0, 0, 0}
	frame = append(frame, payload...) // zero mask: payload unchanged
	if _, err := c.Write(frame); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// serverMemory forces a GC in the server (pprof heap?gc=1 on the admin
// endpoint) and reads its memory gauges.
func serverMemory(b *testing.B, s *server) map[string]float64 {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/heap?gc=1", s.admin))
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	r := s.call(b, "GET", "/metrics", "", nil)
	out := map[string]float64{}
	names := map[string]string{
		"go_memstats_heap_inuse_bytes":  "heap-B",
		"go_memstats_stack_inuse_bytes": "stack-B",
		"process_resident_memory_bytes": "rss-B",
		"go_goroutines":                 "goroutines",
	}
	for _, line := range strings.Split(string(r.body), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 {
			if k, ok := names[f[0]]; ok {
				out[k], _ = strconv.ParseFloat(f[1], 64)
			}
		}
	}
	return out
}
