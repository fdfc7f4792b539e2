package deploy_test

// TestLoadBalancers proves the shipped load-balancer configs against the
// real thing: it builds the gateway, runs two instances from the shipped
// ../Caddyfile on free ports against the real Postgres (and, once the Redis
// bus exists, a private Redis), then
//
//	caddy:   deploy/Caddyfile.lb in front of them: auth, REST and the
//	         WebSocket protocol through it, sockets spread over both
//	         instances, cross-instance delivery (with Redis), and a SIGTERM
//	         of one instance: REST keeps working and every client that lost
//	         its socket reconnects through the LB and resumes with `since`,
//	         losing nothing;
//	nginx:   Debian's nginx with deploy/nginx.conf rendered for them: REST
//	         and WebSocket through it, public GETs served from proxy_cache,
//	         anything with credentials never cached;
//	compose: `docker-compose -f deploy/docker-compose.yml config` validates.
//
// Helpers are prefixed lb: observability_test.go shares this package.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/chatgate/chatgate/chatclient"
	"github.com/chatgate/chatgate/internal/freeport"
	"github.com/chatgate/chatgate/internal/testenv"
)

const (
	lbDSN    = "postgres://postgres@127.0.0.1:5432/chatgate_test_lb?sslmode=disable"
	lbSecret = "lb-test-secret-0123456789abcdef-shared"
)

func TestLoadBalancers(t *testing.T) {
	start := time.Now()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()

	// Static first: cheap, and independent of the gateways.
	t.Run("compose", func(t *testing.T) { lbCheckCompose(t, root) })

	bin := testenv.BuildGateway(t)
	t.Logf("built the gateway in %v", time.Since(start).Round(time.Millisecond))

	lbEnsureDB(t)
	redisURL := ""
	if lbRedisBus(t, root) {
		redisURL = lbStartRedis(t)
		t.Logf("Redis bus present: both instances use %s, cross-instance delivery is asserted", redisURL)
	} else {
		t.Log("no Redis bus in chatcore/bus yet: instances run on the memory bus, cross-instance delivery is not asserted")
	}

	web := filepath.Join(tmp, "web")
	testenv.WriteFile(t, web, "index.html", "<!doctype html><title>chatgate</title>")
	testenv.WriteFile(t, web, "assets/app-3f2a.js", strings.Repeat("console.log('chatgate');\n", 64))
	testenv.WriteFile(t, web, "assets/private-9c1d.js", strings.Repeat("console.log('private');\n", 64))

	gws := []*lbGateway{
		lbStartGateway(t, bin, root, tmp, "gw1", web, redisURL),
		lbStartGateway(t, bin, root, tmp, "gw2", web, redisURL),
	}
	for _, g := range gws {
		testenv.WaitHTTP(t, "http://"+g.addr+"/readyz", 200, 60*time.Second)
	}
	t.Logf("gw1 on %s, gw2 on %s, ready after %v", gws[0].addr, gws[1].addr, time.Since(start).Round(time.Millisecond))

	// nginx first: the caddy subtest ends by stopping gw2.
	t.Run("nginx", func(t *testing.T) { lbCheckNginx(t, root, gws) })
	t.Run("caddy", func(t *testing.T) { lbCheckCaddy(t, bin, root, tmp, gws, redisURL != "") })
	t.Logf("total %v", time.Since(start).Round(time.Millisecond))
}

// ---------- caddy ----------

func lbCheckCaddy(t *testing.T, bin, root, tmp string, gws []*lbGateway, redis bool) {
	base := lbStartCaddyLB(t, bin, root, tmp, gws)

	// Auth and REST through the LB.
	alice := lbRegister(t, base, "alice")
	bob := lbRegister(t, base, "bob")
	var me struct {
		ID    int64  `json:"id"`
		Email string `json:"email"`
	}
	lbJSON(t, lbDo(t, "GET", base+"/api/me", alice.Token, nil, 200), &me)
	if me.ID != alice.ID || me.Email != alice.Email {
		t.Fatalf("/api/me through the LB: %+v, want id %d", me, alice.ID)
	}
	room := lbCreateRoom(t, base, alice.Token, "lb-room")
	lbDo(t, "POST", fmt.Sprintf("%s/api/rooms/%d/join", base, room), bob.Token, nil, 200)
	var info struct {
		ID          int64 `json:"id"`
		MemberCount int64 `json:"member_count"`
	}
	lbJSON(t, lbDo(t, "GET", fmt.Sprintf("%s/api/rooms/%d", base, room), bob.Token, nil, 200), &info)
	if info.ID != room || info.MemberCount != 2 {
		t.Fatalf("room through the LB: %+v", info)
	}
	// The LB's own metrics, on a private address.
	lbDo(t, "GET", base+"/metrics", "", nil, 200)

	// WebSocket through the LB: subscribe, send, ack, message.
	ws := lbDial(t, base, alice.Token)
	ws.subscribe(t, room, nil)
	seq := ws.send(t, room, "hello through caddy")
	ws.waitMessage(t, room, seq, "hello through caddy")
	ws.close()

	// Sockets spread over both instances (least_conn): four clients, each
	// subscribed to a fresh room, sending and receiving on its own path.
	flood := lbCreateRoom(t, base, alice.Token, "lb-failover")
	lbDo(t, "POST", fmt.Sprintf("%s/api/rooms/%d/join", base, flood), bob.Token, nil, 200)
	var clients []*lbWS
	for i := 0; i < 4; i++ {
		u := alice
		if i%2 == 1 {
			u = bob
		}
		c := lbDial(t, base, u.Token)
		c.name = fmt.Sprintf("client%d", i)
		c.subscribe(t, flood, nil)
		clients = append(clients, c)
	}
	n1, n2 := lbWSConnections(t, gws[0]), lbWSConnections(t, gws[1])
	t.Logf("WebSockets through the LB: gw1 %v, gw2 %v", n1, n2)
	if n1 < 1 || n2 < 1 {
		t.Fatalf("least_conn did not spread 4 sockets over both instances: gw1 %v, gw2 %v", n1, n2)
	}

	// Each client sends 3 messages on its own socket and sees its own.
	sent := 0
	for r := 0; r < 3; r++ {
		for _, c := range clients {
			body := fmt.Sprintf("%s before %d", c.name, r)
			s := c.send(t, flood, body)
			c.waitMessage(t, flood, s, body)
			sent++
		}
	}

	// Across instances (Redis bus): direct sockets to gw1 and gw2.
	if redis {
		lbCrossInstance(t, gws, alice, bob, room)
		// Every client also saw every other client's messages, whichever
		// instance it sits on.
		for _, c := range clients {
			c.waitContiguous(t, flood, int64(sent), 5*time.Second)
		}
	}

	// Stop gw2 (SIGTERM: readyz 503, 1001 to its sockets, exit).
	stopAt := time.Now()
	gws[1].proc.Signal(syscall.SIGTERM)

	// REST keeps working through the LB within a few seconds.
	var restOK time.Duration
	restDeadline := time.Now().Add(5 * time.Second)
	for i := 0; ; i++ {
		code, _ := lbTry("POST", fmt.Sprintf("%s/api/rooms/%d/messages", base, flood), alice.Token,
			map[string]any{"body": "rest during failover", "cid": fmt.Sprintf("rest-failover-%d", i)})
		if code == 201 {
			restOK = time.Since(stopAt)
			sent++
			break
		}
		if time.Now().After(restDeadline) {
			t.Fatalf("REST through the LB failed for 5 s after SIGTERM of gw2 (last status %d)", code)
		}
		time.Sleep(100 * time.Millisecond)
	}
	lbDo(t, "GET", base+"/api/me", bob.Token, nil, 200)
	t.Logf("REST through the LB answered %v after the SIGTERM", restOK.Round(time.Millisecond))

	// The clients that were on gw2 lose their socket (1001) and reconnect
	// through the LB, resuming with since = the last seq they hold.
	if !gws[1].proc.Wait(20 * time.Second) {
		t.Fatal("gw2 did not exit within 20 s of SIGTERM")
	}
	var dropped []*lbWS
	for _, c := range clients {
		select {
		case <-c.done:
			dropped = append(dropped, c)
		case <-time.After(time.Second):
		}
	}
	t.Logf("gw2 exited %v after the SIGTERM; %d of %d clients lost their socket", time.Since(stopAt).Round(time.Millisecond), len(dropped), len(clients))
	if len(dropped) != int(n2) {
		t.Errorf("%d clients lost their socket, gw2 held %v", len(dropped), n2)
	}
	for _, c := range dropped {
		if code := c.closeCode(); code != chatclient.CloseGoingAway {
			t.Errorf("%s: close %d (%v), want 1001 from the draining instance", c.name, code, c.conn.Err())
		}
	}

	// While they are away the room moves on (through the LB, now gw1 only):
	// these reach them only through the replay.
	for i := 0; i < 3; i++ {
		lbDo(t, "POST", fmt.Sprintf("%s/api/rooms/%d/messages", base, flood), alice.Token,
			map[string]any{"body": fmt.Sprintf("while away %d", i), "cid": fmt.Sprintf("away-%d-%d", i, rand.IntN(1e9))}, 201)
		sent++
	}

	// Reconnect with jittered backoff; every client back within 5 s.
	resumed := map[*lbWS]*lbWS{}
	for _, c := range dropped {
		since := c.contiguous(flood)
		t0 := time.Now()
		var nc *lbWS
		for attempt := 0; ; attempt++ {
			var err error
			nc, err = lbDialErr(base, c.token)
			if err == nil {
				err = nc.trySubscribe(flood, &since, 3*time.Second)
				if err == nil {
					break
				}
				nc.close()
			}
			if time.Since(t0) > 5*time.Second {
				t.Fatalf("%s: not back through the LB within 5 s: %v", c.name, err)
			}
			time.Sleep(time.Duration(50+rand.IntN(150)) * time.Millisecond)
		}
		nc.name = c.name + "'"
		nc.since = since
		resumed[c] = nc
		t.Logf("%s resumed since %d through the LB in %v", c.name, since, time.Since(t0).Round(time.Millisecond))
	}

	// Everyone, old sockets on gw1 and resumed ones, now sits on gw1; more
	// traffic, then every socket must hold every message: the resumed ones
	// got exactly since+1..N on their new socket, in order, no duplicate.
	live := []*lbWS{}
	for _, c := range clients {
		if nc, ok := resumed[c]; ok {
			live = append(live, nc)
		} else {
			live = append(live, c)
		}
	}
	for r := 0; r < 2; r++ {
		for _, c := range live {
			body := fmt.Sprintf("%s after %d", c.name, r)
			s := c.send(t, flood, body)
			c.waitMessage(t, flood, s, body)
			sent++
		}
	}
	for _, c := range live {
		if _, ok := resumed[clientOf(resumed, c)]; ok || redis {
			c.waitContiguous(t, flood, int64(sent), 5*time.Second)
		}
	}
	for old, nc := range resumed {
		got := nc.seqs(flood)
		for i, s := range got {
			if want := nc.since + int64(i) + 1; s != want {
				t.Fatalf("%s: after resuming since %d the socket delivered %v: seq %d at %d, want %d (gap, duplicate or disorder)",
					nc.name, nc.since, got, s, i, want)
			}
		}
		have := map[int64]bool{}
		for _, s := range append(old.seqs(flood), got...) {
			have[s] = true
		}
		for s := int64(1); s <= int64(sent); s++ {
			if !have[s] {
				t.Fatalf("%s lost seq %d across the failover (had %v, then %v)", old.name, s, old.seqs(flood), got)
			}
		}
	}
	// And the record agrees: seq 1..sent, nothing more.
	var hist struct {
		Messages []struct {
			Seq int64 `json:"seq"`
		} `json:"messages"`
	}
	lbJSON(t, lbDo(t, "GET", fmt.Sprintf("%s/api/rooms/%d/messages?after=0&limit=200", base, flood), bob.Token, nil, 200), &hist)
	if len(hist.Messages) != sent {
		t.Fatalf("history holds %d messages, %d were acked", len(hist.Messages), sent)
	}
	for _, c := range live {
		c.close()
	}
	for _, c := range clients {
		c.close()
	}
	t.Logf("%d messages, %d sockets resumed through the LB, 0 lost", sent, len(resumed))
}

// lbStartCaddyLB runs deploy/Caddyfile.lb in front of the gateways and
// returns its base URL once /readyz answers through it.
func lbStartCaddyLB(t *testing.T, bin, root, tmp string, gws []*lbGateway) string {
	t.Helper()
	lbAddr := fmt.Sprintf("127.0.0.1:%d", freeport.Take(t))
	var ups []string
	for _, g := range gws {
		ups = append(ups, g.addr)
	}
	testenv.Start(t, tmp, "caddy-lb", []string{
		"CHATGATE_LB_ADDR=" + lbAddr,
		"CHATGATE_UPSTREAMS=" + strings.Join(ups, " "),
		"CHATGATE_LB_ADMIN=" + fmt.Sprintf("127.0.0.1:%d", freeport.Take(t)),
	}, bin, "run", "--config", filepath.Join(root, "deploy/Caddyfile.lb"), "--adapter", "caddyfile")
	base := "http://" + lbAddr
	testenv.WaitHTTP(t, base+"/readyz", 200, 30*time.Second)
	return base
}

// clientOf returns the original client a resumed socket replaced (or nil).
func clientOf(resumed map[*lbWS]*lbWS, nc *lbWS) *lbWS {
	for old, n := range resumed {
		if n == nc {
			return old
		}
	}
	return nil
}

// lbCrossInstance: a socket on gw1 receives what is sent on gw2 and back.
func lbCrossInstance(t *testing.T, gws []*lbGateway, a, b lbUser, room int64) {
	t.Helper()
	c1 := lbDial(t, "http://"+gws[0].addr, a.Token)
	defer c1.close()
	c2 := lbDial(t, "http://"+gws[1].addr, b.Token)
	defer c2.close()
	c1.subscribe(t, room, nil)
	c2.subscribe(t, room, nil)
	s := c2.send(t, room, "from gw2")
	c1.waitMessage(t, room, s, "from gw2")
	s = c1.send(t, room, "from gw1")
	c2.waitMessage(t, room, s, "from gw1")
	t.Log("cross-instance delivery over the Redis bus: gw1 <-> gw2 ok")
}

// ---------- nginx ----------

func lbCheckNginx(t *testing.T, root string, gws []*lbGateway) {
	base := lbStartNginx(t, root, gws)

	// REST and auth.
	carol := lbRegister(t, base, "carol")
	room := lbCreateRoom(t, base, carol.Token, "nginx-room")
	var me struct {
		ID int64 `json:"id"`
	}
	lbJSON(t, lbDo(t, "GET", base+"/api/me", carol.Token, nil, 200), &me)
	if me.ID != carol.ID {
		t.Fatalf("/api/me through nginx: id %d, want %d", me.ID, carol.ID)
	}

	// WebSocket.
	ws := lbDial(t, base, carol.Token)
	ws.subscribe(t, room, nil)
	seq := ws.send(t, room, "hello through nginx")
	ws.waitMessage(t, room, seq, "hello through nginx")
	// A ping round trip after the first exchange: the upgraded connection
	// stays open through nginx.
	ws.write(t, map[string]any{"type": "ping"})
	ws.waitFor(t, "pong", func(e lbEvent) bool { return e.Type == "pong" }, 5*time.Second)
	ws.close()

	// proxy_cache: public GETs are cached...
	for _, p := range []string{"/assets/app-3f2a.js", "/healthz"} {
		first := lbCacheStatus(t, base+p, nil)
		second := lbCacheStatus(t, base+p, nil)
		t.Logf("GET %s: %s then %s", p, first, second)
		if second != "HIT" {
			t.Errorf("GET %s twice: X-Cache-Status %q then %q, want HIT the second time", p, first, second)
		}
	}
	// ...anything with credentials never is: not served from the cache (even
	// a cached public path), not stored either.
	auth := http.Header{"Authorization": {"Bearer " + carol.Token}}
	cookie := http.Header{"Cookie": {"chatgate_token=" + carol.Token}}
	for _, h := range []http.Header{auth, cookie} {
		for i := 0; i < 2; i++ {
			if st := lbCacheStatus(t, base+"/assets/app-3f2a.js", h); st == "HIT" {
				t.Errorf("GET a cached asset with credentials (%v): served from the cache", h)
			}
			if st := lbCacheStatus(t, base+"/assets/private-9c1d.js", h); st == "HIT" {
				t.Errorf("GET an asset with credentials twice: %q", st)
			}
			if st := lbCacheStatus(t, base+"/api/me", h); st != "" {
				t.Errorf("GET /api/me with credentials: X-Cache-Status %q, want no caching at all", st)
			}
		}
	}
	if st := lbCacheStatus(t, base+"/assets/private-9c1d.js", nil); st != "MISS" {
		t.Errorf("an asset fetched only with credentials before: anonymous GET is %q, want MISS (the credentialed answers must not be stored)", st)
	}
}

// lbStartNginx renders deploy/nginx.conf for the gateways, runs Debian's
// nginx (installed when missing) on a private prefix and returns its base
// URL once /readyz answers through it.
func lbStartNginx(t *testing.T, root string, gws []*lbGateway) string {
	t.Helper()
	nginx := testenv.Tool(t, "nginx", "nginx")
	// Workers run as nobody when started as root: the prefix must be
	// traversable, which t.TempDir (0700 parents) is not.
	prefix, err := os.MkdirTemp("", "chatgate-lb-nginx-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(prefix) })
	os.Chmod(prefix, 0o755)
	os.MkdirAll(filepath.Join(prefix, "logs"), 0o755)

	listen := fmt.Sprintf("127.0.0.1:%d", freeport.Take(t))
	tmpl, err := os.ReadFile(filepath.Join(root, "deploy/nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	ups := ""
	for _, g := range gws {
		ups += " server " + g.addr + " max_fails=2 fail_timeout=10s;"
	}
	conf := strings.NewReplacer("__LISTEN__", listen, "__UPSTREAMS__", ups).Replace(string(tmpl))
	if strings.Contains(conf, "__") {
		t.Fatalf("unsubstituted placeholder in the rendered nginx.conf")
	}
	confPath := testenv.WriteFile(t, prefix, "nginx.conf", conf)
	args := []string{"-c", confPath, "-p", prefix + "/", "-e", filepath.Join(prefix, "logs/error.log")}
	testenv.Run(t, prefix, nginx, append([]string{"-t", "-q"}, args...)...)
	testenv.Start(t, prefix, "nginx", nil, nginx, args...)
	base := "http://" + listen
	testenv.WaitHTTP(t, base+"/readyz", 200, 15*time.Second)
	return base
}

func lbCacheStatus(t *testing.T, u string, h http.Header) string {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	return resp.Header.Get("X-Cache-Status")
}

// ---------- compose ----------

func lbCheckCompose(t *testing.T, root string) {
	dc := testenv.Tool(t, "docker-compose", "docker-compose")
	file := filepath.Join(root, "deploy/docker-compose.yml")
	cmd := exec.Command(dc, "-f", file, "config")
	cmd.Dir = root
	// No engine is needed for `config`; keep a user's env out of it.
	cmd.Env = append(os.Environ(), "CHATGATE_SECRET=", "CHATGATE_LB_PORT=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, out)
	}
	cfg := string(out)
	cmd = exec.Command(dc, "-f", file, "config", "--services")
	cmd.Dir = root
	svc, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docker-compose config --services: %v\n%s", err, svc)
	}
	have := map[string]bool{}
	for _, s := range strings.Fields(string(svc)) {
		have[s] = true
	}
	for _, s := range []string{"postgres", "redis", "gw1", "gw2", "gw3", "lb", "prometheus"} {
		if !have[s] {
			t.Errorf("docker-compose.yml: no service %q (have %v)", s, strings.Fields(string(svc)))
		}
	}
	for _, want := range []string{
		"dockerfile: deploy/Dockerfile",
		filepath.Join(root, "deploy/Caddyfile.lb") + ":/etc/caddy/Caddyfile.lb",
		filepath.Join(root, "deploy/prometheus") + ":/etc/prometheus",
		"CHATGATE_UPSTREAMS: gw1:8080 gw2:8080 gw3:8080",
		"CHATGATE_REDIS: redis://redis:6379/0",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("docker-compose config: no %q in\n%s", want, cfg)
		}
	}
	for _, p := range []string{"deploy/Dockerfile", "deploy/Caddyfile.lb", "deploy/prometheus/prometheus.yml", "Caddyfile", "xcaddy.sh"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("compose needs %s: %v", p, err)
		}
	}
	df, err := os.ReadFile(filepath.Join(root, "deploy/Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"FROM golang:1.26", "./xcaddy.sh", `"caddy", "run", "--config", "/etc/caddy/Caddyfile"`} {
		if !bytes.Contains(df, []byte(want)) {
			t.Errorf("deploy/Dockerfile: no %q", want)
		}
	}
}

// ---------- processes ----------

type lbGateway struct {
	// ops is the operator listener (CHATGATE_OPS_ADDR): /metrics and the
	// live view, each instance on its own port.
	name, addr, admin, ops string
	proc                   *testenv.Proc
}

// lbStartGateway runs the shipped Caddyfile; env entries override the
// defaults below (the last value of a variable wins).
func lbStartGateway(t *testing.T, bin, root, tmp, name, web, redisURL string, env ...string) *lbGateway {
	t.Helper()
	g := &lbGateway{name: name,
		addr:  fmt.Sprintf("127.0.0.1:%d", freeport.Take(t)),
		admin: fmt.Sprintf("127.0.0.1:%d", freeport.Take(t)),
		ops:   fmt.Sprintf("127.0.0.1:%d", freeport.Take(t))}
	dir := filepath.Join(tmp, name)
	os.MkdirAll(dir, 0o755)
	dsn := lbDSN
	if v := os.Getenv("CHATGATE_TEST_LB_POSTGRES"); v != "" {
		dsn = v
	}
	env = append([]string{
		"CHATGATE_ADDR=" + g.addr,
		"CHATGATE_ADMIN=" + g.admin,
		"CHATGATE_OPS_ADDR=" + g.ops,
		"CHATGATE_INSTANCE=" + name,
		"CHATGATE_POSTGRES=" + dsn,
		"CHATGATE_SECRET=" + lbSecret,
		"CHATGATE_WEB_ROOT=" + web,
		"CHATGATE_LIVE_ROOT=" + filepath.Join(root, "deploy/live"),
		"CHATGATE_DATA_DIR=" + filepath.Join(dir, ".data"),
		"CHATGATE_REDIS=" + redisURL,
		"CHATGATE_AUTH_IP_RATE=off",
	}, env...)
	g.proc = testenv.Start(t, dir, name, env, bin, "run", "--config", filepath.Join(root, "Caddyfile"), "--adapter", "caddyfile")
	return g
}

// lbRedisBus reports whether the Redis bus exists (then the instances get
// CHATGATE_REDIS and cross-instance delivery is asserted).
func lbRedisBus(t *testing.T, root string) bool {
	files, _ := filepath.Glob(filepath.Join(root, "chatcore/bus/*.go"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil && bytes.Contains(b, []byte("NewRedis")) {
			return true
		}
	}
	return false
}

// lbStartRedis is a private redis-server: pub/sub channels ignore the db
// number, so a shared server would mix these rooms with other suites'
// rooms of the same id. CHATGATE_TEST_LB_REDIS overrides it.
func lbStartRedis(t *testing.T) string {
	t.Helper()
	if v := os.Getenv("CHATGATE_TEST_LB_REDIS"); v != "" {
		return v
	}
	return testenv.StartRedis(t).URL()
}

// lbEnsureDB creates the suites' database unless CHATGATE_TEST_LB_POSTGRES
// names another.
func lbEnsureDB(t *testing.T) {
	t.Helper()
	if os.Getenv("CHATGATE_TEST_LB_POSTGRES") == "" {
		testenv.EnsureDB(t, "chatgate_test_lb")
	}
}

var lbMetricRE = regexp.MustCompile(`(?m)^chatgate_ws_connections(?:\{[^}]*\})? ([0-9.eE+-]+)$`)

// lbWSConnections reads an instance's chatgate_ws_connections on its
// operator listener.
func lbWSConnections(t *testing.T, g *lbGateway) float64 {
	t.Helper()
	b := lbDo(t, "GET", "http://"+g.ops+"/metrics", "", nil, 200)
	total := 0.0
	ms := lbMetricRE.FindAllStringSubmatch(string(b), -1)
	if ms == nil {
		t.Fatalf("%s /metrics: no chatgate_ws_connections", g.name)
	}
	for _, m := range ms {
		v, _ := strconv.ParseFloat(m[1], 64)
		total += v
	}
	return total
}

// ---------- REST ----------

type lbUser struct {
	ID    int64
	Email string
	Token string
}

func lbRegister(t *testing.T, base, name string) lbUser {
	t.Helper()
	email := fmt.Sprintf("%s-%d-%d@lb.test", name, time.Now().UnixNano(), rand.IntN(1e6))
	var reg struct {
		User struct {
			ID int64 `json:"id"`
		} `json:"user"`
		Token string `json:"token"`
	}
	lbJSON(t, lbDo(t, "POST", base+"/api/auth/register", "", map[string]any{"name": name, "email": email, "password": "correct horse battery"}, 201), &reg)
	if reg.Token == "" || reg.User.ID == 0 {
		t.Fatalf("register: %+v", reg)
	}
	// Login too (it may land on the other instance: the token is stateless).
	var login struct {
		User struct {
			ID int64 `json:"id"`
		} `json:"user"`
		Token string `json:"token"`
	}
	lbJSON(t, lbDo(t, "POST", base+"/api/auth/login", "", map[string]any{"email": email, "password": "correct horse battery"}, 200), &login)
	if login.User.ID != reg.User.ID || login.Token == "" {
		t.Fatalf("login: %+v, registered %d", login, reg.User.ID)
	}
	return lbUser{ID: reg.User.ID, Email: email, Token: login.Token}
}

func lbCreateRoom(t *testing.T, base, token, name string) int64 {
	t.Helper()
	var r struct {
		ID int64 `json:"id"`
	}
	lbJSON(t, lbDo(t, "POST", base+"/api/rooms", token, map[string]any{"name": fmt.Sprintf("%s-%d", name, rand.IntN(1e9)), "is_private": false}, 201), &r)
	return r.ID
}

// lbHTTP is the REST transport of every helper here.
var lbHTTP = &http.Client{Timeout: 10 * time.Second}

// lbTry makes one call through chatclient and returns its status and body
// whatever they are (0 and the error's text when there was no answer).
func lbTry(method, u, token string, body any) (int, []byte) {
	c := chatclient.New("", chatclient.WithHTTPClient(lbHTTP), chatclient.WithToken(token))
	r, err := c.Do(context.Background(), method, u, body, nil)
	if r == nil {
		return 0, []byte(err.Error())
	}
	return r.StatusCode, r.Body
}

func lbDo(t *testing.T, method, u, token string, body any, want int) []byte {
	t.Helper()
	code, b := lbTry(method, u, token, body)
	if code != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, u, code, want, b)
	}
	return b
}

func lbJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}

// ---------- WebSocket client (chatclient) ----------

// lbEvent is any server event.
type lbEvent = chatclient.Event

// lbWS is one chatclient connection and the log of everything it received.
type lbWS struct {
	name  string
	token string
	since int64
	conn  *chatclient.Conn
	log   *chatclient.Log
	done  <-chan struct{}
	cid   int
}

func lbDial(t *testing.T, base, token string) *lbWS {
	t.Helper()
	c, err := lbDialErr(base, token)
	if err != nil {
		t.Fatalf("dial %s/ws: %v", base, err)
	}
	t.Cleanup(c.close)
	return c
}

func lbDialErr(base, token string) (*lbWS, error) {
	cc := chatclient.New(base, chatclient.WithToken(token), chatclient.WithHTTPClient(lbHTTP),
		chatclient.WithDialer(&websocket.Dialer{HandshakeTimeout: 5 * time.Second}))
	log := chatclient.NewLog()
	conn, err := cc.Dial(context.Background(), &chatclient.DialOptions{Log: log, TokenInQuery: true, WriteTimeout: 5 * time.Second})
	if err != nil {
		return nil, err
	}
	return &lbWS{token: token, conn: conn, log: log, done: conn.Done()}, nil
}

func (c *lbWS) close() { c.conn.Drop() }

// closeCode waits for the socket to end: the server's close code, or -1.
func (c *lbWS) closeCode() int {
	<-c.done
	if code := chatclient.CloseCode(c.conn.Err()); code != 0 {
		return code
	}
	return -1
}

func (c *lbWS) write(t *testing.T, v any) {
	t.Helper()
	if err := c.conn.WriteJSON(v); err != nil {
		t.Fatalf("%s: write: %v", c.name, err)
	}
}

// find waits for an event matching pred, scanning from the start.
func (c *lbWS) find(pred func(lbEvent) bool, within time.Duration) (lbEvent, error) {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	return c.log.Wait(ctx, pred)
}

func (c *lbWS) waitFor(t *testing.T, what string, pred func(lbEvent) bool, within time.Duration) lbEvent {
	t.Helper()
	e, err := c.find(pred, within)
	if err != nil {
		t.Fatalf("%s: waiting for %s: %v (events %+v)", c.name, what, err, c.snapshot())
	}
	return e
}

func (c *lbWS) snapshot() []lbEvent { return c.log.Events() }

// trySubscribe subscribes and waits for the answer to this subscribe.
func (c *lbWS) trySubscribe(room int64, since *int64, within time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	_, err := c.conn.Subscribe(ctx, room, since)
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	return nil
}

func (c *lbWS) subscribe(t *testing.T, room int64, since *int64) {
	t.Helper()
	if err := c.trySubscribe(room, since, 5*time.Second); err != nil {
		t.Fatalf("%s: subscribe %d: %v", c.name, room, err)
	}
}

// send sends a message and returns the seq of its ack.
func (c *lbWS) send(t *testing.T, room int64, body string) int64 {
	t.Helper()
	c.cid++
	cid := fmt.Sprintf("%s-%d-%d", c.name, c.cid, rand.IntN(1e9))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ack, err := c.conn.Send(ctx, room, body, cid)
	if err != nil || ack.Seq == 0 {
		t.Fatalf("%s: send refused: %+v %v (events %+v)", c.name, ack, err, c.snapshot())
	}
	return ack.Seq
}

func (c *lbWS) waitMessage(t *testing.T, room, seq int64, body string) {
	t.Helper()
	e := c.waitFor(t, fmt.Sprintf("message %d/%d", room, seq), func(e lbEvent) bool {
		return e.Type == "message" && e.Room == room && e.Seq == seq
	}, 5*time.Second)
	if e.Body != body {
		t.Fatalf("%s: message %d: body %q, want %q", c.name, seq, e.Body, body)
	}
}

// seqs lists the message seqs this socket received for a room, in order.
func (c *lbWS) seqs(room int64) []int64 {
	var out []int64
	for _, e := range c.snapshot() {
		if e.Type == "message" && e.Room == room {
			out = append(out, e.Seq)
		}
	}
	return out
}

// contiguous is the resume point: the highest seq n such that this socket
// (and the one it replaced) holds every seq 1..n.
func (c *lbWS) contiguous(room int64) int64 {
	var tr chatclient.Tracker
	tr.Start(room, c.since)
	for _, s := range c.seqs(room) {
		tr.Observe(room, s)
	}
	n, _ := tr.Since(room)
	return n
}

// waitContiguous waits until the socket holds every seq up to n.
func (c *lbWS) waitContiguous(t *testing.T, room, n int64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for c.contiguous(room) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: holds seqs %v (since %d), want every seq up to %d", c.name, c.seqs(room), c.since, n)
		}
		select {
		case <-c.log.Changed():
		case <-time.After(50 * time.Millisecond):
		}
	}
}
