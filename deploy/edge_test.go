package deploy_test

// The trust seams at the edge, through the real binary and the shipped
// configs:
//
//	TestClientAddress:     per-address limits count the client's real
//	                       address, whatever X-Forwarded-For it writes,
//	                       directly and through each shipped load balancer;
//	TestOperatorListener:  /metrics and the live view answer on the operator
//	                       listener only, unless CHATGATE_OPS_ON_SITE=on.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/chatgate/chatgate/chatclient"
	"github.com/chatgate/chatgate/internal/testenv"
)

// edgeBurst is the gateways' auth_ip_rate and ip_connect_rate burst in
// TestClientAddress: the (edgeBurst+1)th attempt from one address is 429.
const edgeBurst = 5

// edgeSource hands out loopback addresses other than 127.0.0.1 (Linux routes
// all of 127/8 to lo): clients that are not trusted proxies, each one new.
// 127.0.0.1 is the load balancers' and the gateways' trusted proxy.
var edgeSource atomic.Int32

func edgeNewSource() string {
	n := edgeSource.Add(1)
	return fmt.Sprintf("127.%d.%d.%d", 100+rand.IntN(100), n/250, 2+n%250)
}

// edgeSpoof is an address a client might claim: random, public, never one
// the test uses as a source.
func edgeSpoof() string {
	return fmt.Sprintf("%d.%d.%d.%d", 11+rand.IntN(180), rand.IntN(256), rand.IntN(256), 1+rand.IntN(254))
}

// edgeAttempt makes one limited request from src with the given
// X-Forwarded-For (none when empty) and returns its status.
type edgeAttempt func(t *testing.T, base, src, xff string) int

// edgeLogin is a login for an unknown account: counted by auth_ip_rate
// before any hashing; 401 when let through.
func edgeLogin(t *testing.T, base, src, xff string) int {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: edgeDialer(src).DialContext}}
	defer c.CloseIdleConnections()
	cc := chatclient.New(base, chatclient.WithHTTPClient(c), chatclient.WithHeader(edgeXFF(xff)))
	_, err := cc.Login(context.Background(), fmt.Sprintf("nobody-%d@edge.test", rand.Int64()), "not the password")
	if err == nil {
		return http.StatusOK
	}
	var e *chatclient.Error
	if !errors.As(err, &e) {
		t.Fatalf("login from %s: %v", src, err)
	}
	if e.Status == 429 && e.RetryAfter == 0 {
		t.Errorf("429 without Retry-After")
	}
	return e.Status
}

// edgeHandshake is a WebSocket handshake without a token: counted by
// ip_connect_rate before the upgrade; 101 when let through (then closed
// 4401, which does not matter here).
func edgeHandshake(t *testing.T, base, src, xff string) int {
	t.Helper()
	// No Origin: a non-browser client, which the origin check lets through.
	d := &websocket.Dialer{NetDialContext: edgeDialer(src).DialContext, HandshakeTimeout: 10 * time.Second}
	cc := chatclient.New(base, chatclient.WithDialer(d), chatclient.WithHeader(edgeXFF(xff)))
	c, err := cc.Dial(context.Background(), nil)
	if err == nil {
		c.Drop()
		return c.Response().StatusCode
	}
	if st := chatclient.StatusOf(err); st != 0 {
		return st
	}
	t.Fatalf("handshake from %s: %v", src, err)
	return 0
}

// edgeXFF is the X-Forwarded-For header a client writes (none when empty).
func edgeXFF(xff string) http.Header {
	if xff == "" {
		return nil
	}
	return http.Header{"X-Forwarded-For": {xff}}
}

func edgeDialer(src string) *net.Dialer { return testenv.DialerFrom(src) }

// edgeExhaust makes edgeBurst+1 attempts from src, each with the
// X-Forwarded-For xff(i) writes, and requires exactly the last one to be
// refused: the attempts were counted under one address whatever they
// claimed.
func edgeExhaust(t *testing.T, try edgeAttempt, ok int, base, src string, xff func(i int) string) {
	t.Helper()
	var got []int
	var sent []string
	for i := 0; i <= edgeBurst; i++ {
		x := xff(i)
		sent = append(sent, x)
		got = append(got, try(t, base, src, x))
	}
	for i, code := range got {
		want := ok
		if i == edgeBurst {
			want = http.StatusTooManyRequests
		}
		if code != want {
			t.Fatalf("from %s, X-Forwarded-For %q: statuses %v, want %d× %d then 429 (the client escaped or was wrongly counted)",
				src, sent, got, edgeBurst, ok)
		}
	}
}

func TestClientAddress(t *testing.T) {
	root, tmp, bin, redisURL, web := lbCluster(t)
	rate := fmt.Sprintf("1/m %d", edgeBurst)
	gw := lbStartGateway(t, bin, root, tmp, "gw", web, redisURL,
		"CHATGATE_AUTH_IP_RATE="+rate, "CHATGATE_IP_CONNECT_RATE="+rate, "CHATGATE_LOGIN_ACCOUNT_RATE=off")
	testenv.WaitHTTP(t, "http://"+gw.addr+"/readyz", 200, 60*time.Second)
	direct := "http://" + gw.addr
	caddyLB := lbStartCaddyLB(t, bin, root, tmp, []*lbGateway{gw})
	nginx := lbStartNginx(t, root, []*lbGateway{gw})

	limits := []struct {
		name string
		try  edgeAttempt
		ok   int
	}{
		{"login", edgeLogin, http.StatusUnauthorized},
		{"handshake", edgeHandshake, http.StatusSwitchingProtocols},
	}
	// What a client writes in X-Forwarded-For, fresh on every attempt.
	spoofs := []struct {
		name string
		xff  func(src string) func(int) string
	}{
		{"random", func(string) func(int) string { return func(int) string { return edgeSpoof() } }},
		{"random, real", func(src string) func(int) string {
			return func(int) string { return edgeSpoof() + ", " + src }
		}},
		{"random, proxy", func(string) func(int) string {
			return func(int) string { return edgeSpoof() + ", 127.0.0.1" }
		}},
	}

	// Through each shipped load balancer and straight to the gateway as a
	// client that is not a trusted proxy: the client's X-Forwarded-For
	// changes nothing, every attempt counts under its own address.
	for _, path := range []struct{ name, base string }{{"direct", direct}, {"caddy", caddyLB}, {"nginx", nginx}} {
		t.Run(path.name, func(t *testing.T) {
			for _, l := range limits {
				for _, sp := range spoofs {
					src := edgeNewSource()
					edgeExhaust(t, l.try, l.ok, path.base, src, sp.xff(src))
					// The limit is per address, not global and not the
					// proxy's: another client still gets through, and
					// the exhausted one cannot name it to get out.
					other := edgeNewSource()
					if code := l.try(t, path.base, other, ""); code != l.ok {
						t.Fatalf("%s/%s: a fresh client %s got %d after %s was limited, want %d", l.name, sp.name, other, code, src, l.ok)
					}
					if code := l.try(t, path.base, src, other); code != http.StatusTooManyRequests {
						t.Fatalf("%s/%s: limited %s claiming X-Forwarded-For %s got %d, want 429", l.name, sp.name, src, other, code)
					}
				}
				t.Logf("%s through %s: %d attempts per client, 429 on attempt %d whatever X-Forwarded-For said", l.name, path.name, edgeBurst+1, edgeBurst+1)
			}
		})
	}

	// From a trusted proxy (127.0.0.1, like the load balancers) the client
	// is the right-most entry that is not a trusted proxy: what a proxy that
	// appends ($proxy_add_x_forwarded_for) sends. Entries to its left are
	// the client's own words and do not count.
	t.Run("trusted-proxy", func(t *testing.T) {
		for _, l := range limits {
			real := edgeSpoof()
			edgeExhaust(t, l.try, l.ok, direct, "127.0.0.1", func(i int) string {
				switch i % 3 {
				case 0:
					return real
				case 1:
					return edgeSpoof() + ", " + real
				default:
					return edgeSpoof() + ", " + real + ", 127.0.0.1"
				}
			})
			// A different right-most client is a different address.
			if code := l.try(t, direct, "127.0.0.1", real+", "+edgeSpoof()); code != l.ok {
				t.Fatalf("%s: another client behind the trusted proxy got %d, want %d", l.name, code, l.ok)
			}
		}
	})
}

func TestOperatorListener(t *testing.T) {
	root, tmp, bin, redisURL, web := lbCluster(t)
	testenv.WriteFile(t, web, "assets/app-1a2b.js", "console.log('chatgate');\n")
	shut := lbStartGateway(t, bin, root, tmp, "default", web, redisURL)
	open := lbStartGateway(t, bin, root, tmp, "on-site", web, redisURL, "CHATGATE_OPS_ON_SITE=on")
	for _, g := range []*lbGateway{shut, open} {
		testenv.WaitHTTP(t, "http://"+g.addr+"/readyz", 200, 60*time.Second)
	}

	get := func(u string) (int, string, string) {
		t.Helper()
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}
	wantMetrics := func(u string) {
		t.Helper()
		code, _, body := get(u)
		if code != 200 || !strings.Contains(body, "chatgate_ws_connections") || !strings.Contains(body, "caddy_http_requests_total") {
			t.Fatalf("GET %s: %d, want 200 with chatgate_* and caddy_http_* (%d bytes)", u, code, len(body))
		}
	}
	wantLive := func(u string) {
		t.Helper()
		code, typ, body := get(u)
		if code != 200 || !strings.Contains(typ, "text/html") || !strings.Contains(body, "chatgate_ws_connections") {
			t.Fatalf("GET %s: %d %q, want the live view", u, code, typ)
		}
	}

	// Default: the public site has neither, explicitly (the client's
	// fallback answers any other unknown path with index.html)...
	site := "http://" + shut.addr
	for _, p := range []string{"/metrics", "/metrics/", "/admin/live", "/admin/live/", "/admin/live/index.html"} {
		if code, _, body := get(site + p); code != 404 || strings.Contains(body, "chatgate_") || strings.Contains(body, "<title>") {
			t.Errorf("public GET %s: %d %q, want 404 without content", p, code, body)
		}
	}
	if code, _, body := get(site + "/some/client/route"); code != 200 || !strings.Contains(body, "<title>chatgate</title>") {
		t.Errorf("public GET /some/client/route: %d, want the client's index.html", code)
	}
	if code, _, _ := get(site + "/assets/app-1a2b.js"); code != 200 {
		t.Errorf("public asset: %d", code)
	}
	// ...the operator listener has both, and nothing else...
	wantMetrics("http://" + shut.ops + "/metrics")
	wantLive("http://" + shut.ops + "/admin/live/")
	for _, p := range []string{"/", "/api/me", "/healthz"} {
		if code, _, _ := get("http://" + shut.ops + p); code != 404 {
			t.Errorf("operator listener GET %s: %d, want 404", p, code)
		}
	}
	// ...to requests for its own host only: a page that rebinds its DNS
	// name to 127.0.0.1 cannot read them from an operator's browser...
	req, _ := http.NewRequest("GET", "http://"+shut.ops+"/metrics", nil)
	req.Host = "rebound.example"
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if bytes.Contains(b, []byte("chatgate_")) {
			t.Errorf("the operator listener served /metrics to Host: rebound.example")
		}
	}
	// ...and it is bound to 127.0.0.1, not every interface: another
	// loopback address (a stand-in for a public interface) is refused.
	_, port, _ := net.SplitHostPort(shut.ops)
	if c, err := net.DialTimeout("tcp", "127.0.0.2:"+port, 2*time.Second); err == nil {
		c.Close()
		t.Errorf("the operator listener %s accepts connections on 127.0.0.2: it is not bound to its host", shut.ops)
	}
	// CHATGATE_OPS_ON_SITE=on puts both back on the site, and the operator
	// listener keeps them.
	wantMetrics("http://" + open.addr + "/metrics")
	wantLive("http://" + open.addr + "/admin/live/")
	wantMetrics("http://" + open.ops + "/metrics")

	// The shipped Prometheus target is the listener's default address.
	caddyfile, err := os.ReadFile(filepath.Join(root, "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	targets, err := os.ReadFile(filepath.Join(root, "deploy/prometheus/targets/chatgate.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(caddyfile, []byte("{$CHATGATE_OPS_ADDR:127.0.0.1:9180}")) || !bytes.Contains(targets, []byte("- targets: ['127.0.0.1:9180']")) {
		t.Errorf("deploy/prometheus/targets/chatgate.yml does not scrape the Caddyfile's default operator listener 127.0.0.1:9180")
	}

	// Any other value is a configuration error, not a silent default.
	cmd := exec.Command(bin, "adapt", "--config", filepath.Join(root, "Caddyfile"), "--adapter", "caddyfile")
	cmd.Env = append(cmd.Environ(), "CHATGATE_OPS_ON_SITE=yes")
	out, err := cmd.CombinedOutput()
	if err == nil || !bytes.Contains(out, []byte("chatgate_ops_on_site_yes")) {
		t.Errorf("CHATGATE_OPS_ON_SITE=yes: %v, want a config error naming it\n%s", err, out)
	}
}
