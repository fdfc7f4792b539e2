package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatgate/chatgate/chatclient"
	"github.com/chatgate/chatgate/internal/testenv"
)

// TestPasswordHashFlood: 200 clients, each from its own address (so no
// per-address limit applies), log in with unknown e-mails as fast as they
// can for a few seconds, ignoring Retry-After. Hashing is bounded (at most
// GOMAXPROCS at once, a short queue, then 503 + Retry-After), so the
// gateway's RSS grows by at most a few hashes' memory, and a bystander's
// messages keep arriving promptly.
func TestPasswordHashFlood(t *testing.T) {
	root, tmp, bin, redisURL, web := lbCluster(t)
	g := lbStartGateway(t, bin, root, tmp, "flooded", web, redisURL)
	base := "http://" + g.addr
	testenv.WaitHTTP(t, base+"/readyz", 200, 60*time.Second)

	ann, bob := lbRegister(t, base, "ann"), lbRegister(t, base, "bob")
	room := lbCreateRoom(t, base, ann.Token, "bystanders")
	lbDo(t, "POST", fmt.Sprintf("%s/api/rooms/%d/join", base, room), bob.Token, nil, 200)
	sender, receiver := lbDial(t, base, ann.Token), lbDial(t, base, bob.Token)
	receiver.subscribe(t, room, nil)

	// The bystander: a message every 25 ms, its delivery time measured.
	measure := func(d time.Duration) []time.Duration {
		var lat []time.Duration
		end := time.Now().Add(d)
		for i := 0; time.Now().Before(end); i++ {
			body := fmt.Sprintf("tick-%d-%d", time.Now().UnixNano(), i)
			start := time.Now()
			sender.write(t, map[string]any{"type": "send", "room": room, "body": body, "cid": body})
			receiver.waitFor(t, body, func(e lbEvent) bool { return e.Type == "message" && e.Body == body }, 10*time.Second)
			lat = append(lat, time.Since(start))
			time.Sleep(25 * time.Millisecond)
		}
		slices.Sort(lat)
		return lat
	}
	pct := func(l []time.Duration, p int) time.Duration { return l[(len(l)-1)*p/100] }

	quiet := measure(2 * time.Second)
	baseRSS := rssKiB(t, g.proc.Pid())

	// The flood, and RSS sampled throughout.
	var peak atomic.Int64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if v := rssKiB(t, g.proc.Pid()); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	const clients = 200
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	var status sync.Map // status code -> *atomic.Int64
	var wg sync.WaitGroup
	var badRetry atomic.Int64
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := net.IPv4(127, 1, byte(i/250), byte(1+i%250))
			hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
				DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: src}}).DialContext}}
			defer hc.CloseIdleConnections()
			cc := chatclient.New(base, chatclient.WithHTTPClient(hc))
			for n := 0; ctx.Err() == nil; n++ {
				_, err := cc.Login(ctx, fmt.Sprintf("ghost-%d-%d@flood.test", i, n), "not the password")
				code := http.StatusOK // a ghost signed in: counted, and fails below
				if err != nil {
					var e *chatclient.Error
					if !errors.As(err, &e) {
						continue // the flood's own deadline
					}
					if e.Status == 503 && e.RetryAfter < time.Second { // absent: 0
						badRetry.Add(1)
					}
					code = e.Status
				}
				v, _ := status.LoadOrStore(code, new(atomic.Int64))
				v.(*atomic.Int64).Add(1)
			}
		}()
	}
	time.Sleep(300 * time.Millisecond) // let the flood build up
	during := measure(3 * time.Second)
	wg.Wait()
	close(stopSampling)
	<-sampled

	counts := map[int]int64{}
	status.Range(func(k, v any) bool { counts[k.(int)] = v.(*atomic.Int64).Load(); return true })
	grew := peak.Load() - baseRSS
	t.Logf("flood: %d clients from %d addresses for 4 s: answers %v", clients, clients, counts)
	t.Logf("gateway RSS: %d MiB before, peak %d MiB (+%d MiB)", baseRSS/1024, peak.Load()/1024, grew/1024)
	t.Logf("bystander delivery: quiet p50 %v p99 %v max %v (%d msgs); flood p50 %v p99 %v max %v (%d msgs)",
		pct(quiet, 50), pct(quiet, 99), quiet[len(quiet)-1], len(quiet), pct(during, 50), pct(during, 99), during[len(during)-1], len(during))

	if counts[401] == 0 || counts[503] == 0 {
		t.Fatalf("answers %v: want both 401s (hashed) and 503s (refused past the queue)", counts)
	}
	for code := range counts {
		if code != 401 && code != 503 {
			t.Fatalf("answers %v: only 401 and 503 are right", counts)
		}
	}
	if badRetry.Load() > 0 {
		t.Fatalf("%d 503s without a Retry-After of at least 1 s", badRetry.Load())
	}
	// A hash of 19 MiB at a time (half of GOMAXPROCS), plus what the
	// collector has not yet returned: 160 MiB is eight hashes' worth. Unbounded, 48 logins took
	// 800 MiB.
	if grew > 160*1024 {
		t.Fatalf("RSS grew by %d MiB under the flood, want at most 160 MiB", grew/1024)
	}
	// Unbounded, a bystander's send took 2.0-2.8 s under 48 logins. The
	// flood's own 200 clients share the machine's cores with the gateway
	// here, so the figure moves with whatever else runs (p99 75-141 ms on
	// a quiet machine, 357 ms with other test suites running): the bound
	// separates bounded from unbounded hashing, not a quiet from a busy
	// machine.
	if p99 := pct(during, 99); p99 > time.Second {
		t.Fatalf("bystander p99 %v under the flood (quiet %v): hashing starves the chat", p99, pct(quiet, 99))
	}
}

// rssKiB is a process's resident set size.
func rssKiB(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Errorf("read RSS: %v", err)
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}
