package deploy_test

// TestObservability proves the shipped observability config against the real
// thing: it builds the gateway, runs two instances of it on free ports
// against the real Postgres and a private Redis (the bus between them), with
// a Caddy load balancer in front, drives traffic through the public protocol, starts Debian's Prometheus with deploy/prometheus/*.yml
// (1 s scrapes), and then asks Prometheus every dashboard query and every
// alert expression. Every panel query must return data; every alert must
// parse and evaluate; every rule must be healthy in Prometheus itself. The
// promtool unit tests in testdata/alerts_test.yml show that each alert fires
// on the outage it is named after.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/chatgate/chatgate/chatclient"
	"github.com/chatgate/chatgate/internal/freeport"
	"github.com/chatgate/chatgate/internal/testenv"
)

// metricFamilies are the chatgate_* families (and the Go, process and Caddy
// ones) the issue names that have observations once the traffic ran.
var metricFamilies = []string{
	// WebSocket connections, connects, disconnects by close code, frames.
	"chatgate_ws_connections",
	"chatgate_ws_connects_total",
	"chatgate_ws_disconnects_total",
	"chatgate_ws_frames_in_total",
	"chatgate_ws_frames_out_total",
	"chatgate_ws_events_out_total",
	// Messages received, stored, delivered; send->deliver latency.
	"chatgate_messages_received_total",
	"chatgate_messages_stored_total",
	"chatgate_messages_delivered_total",
	"chatgate_delivery_latency_seconds",
	"chatgate_fanout_lag_seconds",
	// Queue overflows, batcher.
	"chatgate_queue_overflows_total",
	"chatgate_batch_size",
	"chatgate_batch_commit_seconds",
	// Database: per query, pool.
	"chatgate_db_query_duration_seconds",
	"chatgate_db_query_errors_total",
	"chatgate_db_pool_acquired_conns",
	"chatgate_db_pool_idle_conns",
	"chatgate_db_pool_total_conns",
	"chatgate_db_pool_waits_total",
	"chatgate_db_pool_wait_seconds_total",
	// Bus and Redis.
	"chatgate_redis_duration_seconds",
	"chatgate_bus_published_total",
	"chatgate_bus_received_total",
	"chatgate_bus_lag_seconds",
	// Caches, rate limits, replays, errors.
	"chatgate_cache_requests_total",
	"chatgate_rate_limited_total",
	"chatgate_replayed_messages_total",
	"chatgate_gap_filled_messages_total",
	"chatgate_errors_total",
	// Go and process collectors: memory, CPU, goroutines, fds.
	"go_goroutines",
	"go_memstats_heap_inuse_bytes",
	"go_sched_gomaxprocs_threads",
	"process_cpu_seconds_total",
	"process_resident_memory_bytes",
	"process_open_fds",
	// Caddy's HTTP metrics.
	"caddy_http_request_duration_seconds",
	"caddy_http_requests_total",
}

// The alerts the issue asks for, by the names alerts.yml gives them.
var requiredAlerts = []string{
	"ChatgateAPILatencyHigh",          // API p95 > 100 ms
	"ChatgateDeliveryLatencyHigh",     // delivery p99 > 100 ms
	"ChatgateCacheHitRateLow",         // cache hit rate < 80%
	"Chatgate5xxRateHigh",             // 5xx rate
	"ChatgateCPUHigh",                 // CPU > 70%
	"ChatgateMemoryPerConnectionHigh", // memory per connection > 1 MB
	"ChatgateInstanceDown",            // an instance down
	"ChatgatePostgresUnreachable",     // Postgres unreachable
	"ChatgateRedisUnreachable",        // Redis unreachable
}

// The panels the issue asks for, by a word of their titles.
var requiredPanels = []string{
	"Request latency", "Active connections", "Message throughput", "Delivery latency",
	"Cache hit rate", "DB query time", "Pool waits", "Memory", "CPU", "Error",
}

// futureMetrics may appear in alert expressions before the gateway exports
// them (see the comments in alerts.yml); every other metric an alert or a
// panel names must exist in Prometheus.
var futureMetrics = map[string]bool{
	"chatgate_redis_errors_total": true,
	"chatgate_dependency_up":      true,
}

// Grafana variables as the test substitutes them: 1 s scrapes, so
// $__rate_interval (max(interval + scrape, 4 x scrape)) is a few seconds.
var grafanaVars = strings.NewReplacer(
	"${__rate_interval}", "5s",
	"$__rate_interval", "5s",
	"${__interval}", "2s",
	"$__interval", "2s",
	"${__range}", "1m",
	"$__range", "1m",
	"${instance:regex}", ".*",
	"${instance}", ".*",
	"$instance", ".*",
)

const obsDSN = "postgres://postgres@127.0.0.1:5432/chatgate_test_obs?sslmode=disable"

func TestObservability(t *testing.T) {
	start := time.Now()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	prom := testenv.Tool(t, "prometheus", "prometheus")
	promtool := testenv.Tool(t, "promtool", "prometheus")

	// Static checks first: they are cheap and explain failures better.
	dash := loadDashboard(t, filepath.Join(root, "deploy/grafana/dashboards/chatgate.json"))
	checkGrafanaProvisioning(t, root)
	rules := loadAlerts(t, filepath.Join(root, "deploy/prometheus/alerts.yml"))
	testenv.Run(t, root, promtool, "check", "rules", "deploy/prometheus/alerts.yml")
	testenv.Run(t, root, promtool, "check", "config", "deploy/prometheus/prometheus.yml")
	// Each alert fires on a synthetic outage, and only there.
	testenv.Run(t, root, promtool, "test", "rules", "deploy/testdata/alerts_test.yml")

	// The gateway and a load balancer in front of it.
	bin := testenv.BuildGateway(t)
	t.Logf("built the gateway in %v", time.Since(start).Round(time.Millisecond))

	dsn := obsDSN
	if v := os.Getenv("CHATGATE_TEST_OBS_POSTGRES"); v != "" {
		dsn = v
	}
	// A private Redis: the bus between the two instances.
	redis := testenv.StartRedis(t)
	redisURL := redis.URL()

	// gws are the sites, ops the operator listeners Prometheus scrapes.
	var gws, admins, ops []string
	for i := 1; i <= 2; i++ {
		gw := fmt.Sprintf("127.0.0.1:%d", freeport.Take(t))
		admin := fmt.Sprintf("127.0.0.1:%d", freeport.Take(t))
		op := fmt.Sprintf("127.0.0.1:%d", freeport.Take(t))
		file := testenv.WriteFile(t, tmp, fmt.Sprintf("Caddyfile.gw%d", i), gatewayCaddyfile(gw, admin, op, filepath.Join(root, "deploy/live")))
		testenv.Start(t, tmp, fmt.Sprintf("gw%d", i), []string{"CHATGATE_POSTGRES=" + dsn, "CHATGATE_REDIS=" + redisURL,
			fmt.Sprintf("CHATGATE_INSTANCE=obs-gw%d", i)}, bin, "run", "--config", file, "--adapter", "caddyfile")
		gws, admins, ops = append(gws, gw), append(admins, admin), append(ops, op)
	}
	for _, gw := range gws {
		testenv.WaitHTTP(t, "http://"+gw+"/readyz", 200, 60*time.Second)
	}
	lb := fmt.Sprintf("127.0.0.1:%d", freeport.Take(t))
	lbFile := testenv.WriteFile(t, tmp, "Caddyfile.lb", lbCaddyfile(lb, gws))
	testenv.Start(t, tmp, "lb", nil, bin, "run", "--config", lbFile, "--adapter", "caddyfile")
	testenv.WaitHTTP(t, "http://"+lb+"/readyz", 200, 30*time.Second)
	t.Logf("gateways on %v (admin %v, operator listeners %v), load balancer on %s, redis on %d", gws, admins, ops, lb, redis.Port)

	// The live view, on the operator listener as the shipped Caddyfile
	// serves it.
	checkLivePage(t, "http://"+ops[0])

	// Traffic: runs until the queries are done.
	tr := startTraffic(t, "http://"+gws[0], "http://"+gws[1], "http://"+lb)
	defer tr.stop()

	// curl /metrics on the operator listener lists every family once
	// traffic ran, on both instances, and the admin endpoint serves the
	// same registry.
	tr.waitWarm(t)
	for i := range gws {
		checkFamilies(t, "http://"+ops[i]+"/metrics")
		checkFamilies(t, "http://"+admins[i]+"/metrics")
	}
	if code := httpStatus(t, "http://"+admins[0]+"/debug/pprof/"); code != 200 {
		t.Errorf("admin /debug/pprof/: status %d", code)
	}

	// Prometheus with the shipped config, our targets and 1 s scrapes.
	promAddr := fmt.Sprintf("127.0.0.1:%d", freeport.Take(t))
	promDir := filepath.Join(tmp, "prometheus")
	cfg := promConfig(t, root, promDir, promAddr, ops, lb)
	testenv.Run(t, root, promtool, "check", "config", cfg)
	testenv.Start(t, tmp, "prometheus", nil, prom,
		"--config.file="+cfg,
		"--storage.tsdb.path="+filepath.Join(promDir, "data"),
		"--web.listen-address="+promAddr,
		"--log.level=warn")
	api := &promAPI{base: "http://" + promAddr}
	testenv.WaitHTTP(t, api.base+"/-/ready", 200, 30*time.Second)
	api.waitScrapes(t, len(ops), 8)
	t.Logf("prometheus scraping after %v", time.Since(start).Round(time.Millisecond))

	names := api.metricNames(t)

	// Every dashboard query returns data.
	nPanels, nQueries, nNaN, nBad := 0, 0, 0, 0
	for _, p := range dash {
		nPanels++
		for _, tg := range p.Targets {
			nQueries++
			q := grafanaVars.Replace(tg.Expr)
			if strings.Contains(q, "$") {
				nBad++
				t.Errorf("panel %q %s: unsubstituted variable in %s", p.Title, tg.RefID, q)
				continue
			}
			checkNames(t, fmt.Sprintf("panel %q %s", p.Title, tg.RefID), q, names, false)
			res, err := api.query(q)
			if err != nil {
				nBad++
				t.Errorf("panel %q %s: %v\n  %s", p.Title, tg.RefID, err, q)
				continue
			}
			if res.empty() {
				nBad++
				t.Errorf("panel %q %s: no data\n  %s", p.Title, tg.RefID, q)
				continue
			}
			if res.allNaN() {
				nNaN++
				t.Logf("panel %q %s: data, all NaN (no observations in the window)", p.Title, tg.RefID)
			}
		}
	}

	// Every alert expression parses and evaluates.
	nAlerts, nAlertBad := 0, 0
	for _, r := range rules {
		nAlerts++
		checkNames(t, "alert "+r.Alert, r.Expr, names, true)
		res, err := api.query(r.Expr)
		if err != nil {
			nAlertBad++
			t.Errorf("alert %s: %v\n  %s", r.Alert, err, r.Expr)
			continue
		}
		state := "not firing"
		if !res.empty() {
			state = "FIRING now"
		}
		t.Logf("alert %-34s evaluates (%s)", r.Alert, state)
	}
	// And Prometheus itself evaluates every rule without error.
	api.checkRuleHealth(t, len(rules))

	t.Logf("%d panels: %d panel queries evaluated, %d with data (%d of them all-NaN), %d failed; %d alert expressions evaluated, %d failed; %d messages sent, %d deliveries read; %v total",
		nPanels, nQueries, nQueries-nBad, nNaN, nBad, nAlerts, nAlertBad, tr.sent.Load(), tr.received.Load(), time.Since(start).Round(time.Millisecond))
}

// ---------- configs ----------

// gatewayCaddyfile is the shipped Caddyfile's chat parts on our ports, with
// fast password hashing for the test users, and its operator listener:
// /metrics and the live view on ops, 404 on the site.
func gatewayCaddyfile(addr, admin, ops, liveDir string) string {
	return fmt.Sprintf(`{
	admin %s
	metrics
	chat {
		postgres {$CHATGATE_POSTGRES}
		redis {$CHATGATE_REDIS}
		instance {$CHATGATE_INSTANCE}
		secret obs-test-secret-0123456789abcdef
		pool_size 16
		statement_timeout 5s
		slow_query 50ms
		password_memory_kib 1024
		password_time 1
	}
}

http://%s {
	encode zstd gzip

	@chat path /api /api/* /ws /healthz /readyz
	handle @chat {
		chat {
			max_frame 16KiB
			max_body 4KiB
			queue_frames 1024
			queue_bytes 1MiB
			send_rate 20
			send_burst 40
			# Every test client comes through the LB from one address.
			auth_ip_rate off
			ip_request_rate off
			ip_connect_rate off
			ip_conns -1
		}
	}

	@ops path /metrics /metrics/* /admin/live*
	handle @ops {
		respond 404
	}

	handle {
		respond "static" 200
	}
}

http://%s {
	bind %s
	handle /metrics {
		metrics
	}
	handle_path /admin/live* {
		root * %s
		file_server
	}
	handle {
		respond 404
	}
}
`, admin, addr, ops, ops, liveDir)
}

func lbCaddyfile(addr string, upstreams []string) string {
	return fmt.Sprintf(`{
	admin off
	metrics
}

http://%s {
	handle /metrics {
		metrics
	}
	handle {
		reverse_proxy %s {
			lb_policy least_conn
		}
	}
}
`, addr, strings.Join(upstreams, " "))
}

// promConfig copies deploy/prometheus into dir with the test's targets, its
// listen address and 1 s intervals.
func promConfig(t *testing.T, root, dir, promAddr string, gwTargets []string, lb string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(root, "deploy/prometheus/prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(src)
	for _, r := range []struct{ re, with string }{
		{`(?m)^(\s*scrape_interval:)\s*\S+`, "${1} 1s"},
		{`(?m)^(\s*scrape_timeout:)\s*\S+`, "${1} 1s"},
		{`(?m)^(\s*evaluation_interval:)\s*\S+`, "${1} 1s"},
		{`localhost:9090`, promAddr},
	} {
		re := regexp.MustCompile(r.re)
		if !re.MatchString(cfg) {
			t.Fatalf("prometheus.yml: no %s to rewrite", r.re)
		}
		cfg = re.ReplaceAllString(cfg, r.with)
	}
	if err := os.MkdirAll(filepath.Join(dir, "targets"), 0o755); err != nil {
		t.Fatal(err)
	}
	testenv.WriteFile(t, dir, "targets/chatgate.yml", fmt.Sprintf("- targets: ['%s']\n  labels:\n    role: gateway\n", strings.Join(gwTargets, "', '")))
	testenv.WriteFile(t, dir, "targets/lb.yml", fmt.Sprintf("- targets: ['%s']\n  labels:\n    role: lb\n", lb))
	alerts, err := os.ReadFile(filepath.Join(root, "deploy/prometheus/alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	testenv.WriteFile(t, dir, "alerts.yml", string(alerts))
	return testenv.WriteFile(t, dir, "prometheus.yml", cfg)
}

// ---------- dashboard, provisioning, alerts ----------

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

// loadDashboard returns every non-row panel, nested ones included, and
// checks the dashboard's shape.
func loadDashboard(t *testing.T, path string) []panel {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID        string  `json:"uid"`
		Title      string  `json:"title"`
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name, Type string
				Query      any
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard: uid and title are required")
	}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	if !vars["datasource"] || !vars["instance"] {
		t.Errorf("dashboard: want $datasource and $instance variables, have %v", vars)
	}
	var out []panel
	ids := map[int]bool{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if ids[p.ID] {
				t.Errorf("dashboard: duplicate panel id %d", p.ID)
			}
			ids[p.ID] = true
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q: no targets", p.Title)
			}
			if p.Datasource.Type != "prometheus" || p.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: datasource %+v, want prometheus/${datasource}", p.Title, p.Datasource)
			}
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" || tg.RefID == "" {
					t.Errorf("panel %q: target without expr or refId", p.Title)
				}
			}
			out = append(out, p)
		}
	}
	walk(d.Panels)
	for _, want := range requiredPanels {
		found := false
		for _, p := range out {
			found = found || strings.Contains(strings.ToLower(p.Title), strings.ToLower(want))
		}
		if !found {
			t.Errorf("dashboard: no panel titled like %q", want)
		}
	}
	return out
}

func checkGrafanaProvisioning(t *testing.T, root string) {
	t.Helper()
	var ds struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name, Type, UID, URL string
		} `yaml:"datasources"`
	}
	readYAML(t, filepath.Join(root, "deploy/grafana/provisioning/datasources/prometheus.yml"), &ds)
	if ds.APIVersion != 1 || len(ds.Datasources) != 1 || ds.Datasources[0].UID != "prometheus" || ds.Datasources[0].Type != "prometheus" {
		t.Errorf("datasource provisioning: %+v", ds)
	}
	var dp struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name, Type string
			Options    struct{ Path string }
		} `yaml:"providers"`
	}
	readYAML(t, filepath.Join(root, "deploy/grafana/provisioning/dashboards/chatgate.yml"), &dp)
	if dp.APIVersion != 1 || len(dp.Providers) != 1 || dp.Providers[0].Type != "file" || dp.Providers[0].Options.Path == "" {
		t.Errorf("dashboard provisioning: %+v", dp)
	}
}

type rule struct {
	Alert  string            `yaml:"alert"`
	Record string            `yaml:"record"`
	Expr   string            `yaml:"expr"`
	For    string            `yaml:"for"`
	Labels map[string]string `yaml:"labels"`
}

func loadAlerts(t *testing.T, path string) []rule {
	t.Helper()
	var f struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []rule `yaml:"rules"`
		} `yaml:"groups"`
	}
	readYAML(t, path, &f)
	var out []rule
	have := map[string]bool{}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				t.Errorf("alerts.yml: group %s has a rule that is not an alert (%q)", g.Name, r.Record)
				continue
			}
			if r.Labels["severity"] == "" {
				t.Errorf("alert %s: no severity label", r.Alert)
			}
			have[r.Alert] = true
			out = append(out, r)
		}
	}
	for _, a := range requiredAlerts {
		if !have[a] {
			t.Errorf("alerts.yml: no alert %s", a)
		}
	}
	return out
}

var selectorRE = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{`)

// checkNames fails when q selects a metric Prometheus does not have: a typo
// would otherwise make an alert silently never fire.
func checkNames(t *testing.T, what, q string, names map[string]bool, allowFuture bool) {
	t.Helper()
	for _, m := range selectorRE.FindAllStringSubmatch(q, -1) {
		n := m[1]
		if names[n] || (allowFuture && futureMetrics[n]) {
			continue
		}
		t.Errorf("%s: metric %s does not exist in Prometheus", what, n)
	}
}

// ---------- traffic ----------

type traffic struct {
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	sent     atomic.Int64
	received atomic.Int64
	warm     chan struct{}
	conns    []*chatclient.Conn
	mu       sync.Mutex
}

type user struct {
	ID    int64
	Token string
}

// startTraffic registers users, makes a room, and keeps a little chat going:
// A sends about 10 messages a second on gw1, B reads them on gw2 (through
// the Redis bus), REST reads through the load balancer and both instances,
// typing, an unknown room now and then.
// Before it counts as warm it also makes a rate limit, a replay and a
// normal close happen, so their series exist.
func startTraffic(t *testing.T, gw, gw2, lb string) *traffic {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tr := &traffic{cancel: cancel, warm: make(chan struct{})}
	run := fmt.Sprintf("%d%04d", time.Now().UnixNano(), rand.IntN(10000))
	a := register(t, lb, "obs-a-"+run)
	b := register(t, gw2, "obs-b-"+run)
	c := register(t, gw, "obs-c-"+run)
	var room struct{ ID int64 }
	lbJSON(t, lbDo(t, "POST", lb+"/api/rooms", a.Token, map[string]any{"name": "obs " + run, "is_private": false}, 201), &room)
	lbDo(t, "POST", gw+fmt.Sprintf("/api/rooms/%d/join", room.ID), b.Token, nil, 200)
	lbDo(t, "POST", gw+fmt.Sprintf("/api/rooms/%d/join", room.ID), c.Token, nil, 200)

	wsA := tr.dial(t, gw, a.Token, room.ID, nil, true)
	wsB := tr.dial(t, gw2, b.Token, room.ID, nil, true)
	send := func(ws *chatclient.Conn, body, cid string) error {
		tr.sent.Add(1)
		return ws.SendAsync(room.ID, body, cid)
	}

	tr.wg.Add(1)
	go func() {
		defer tr.wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		hc := &http.Client{Timeout: 5 * time.Second}
		get := func(base, path, token string) {
			_, _ = chatclient.New(base, chatclient.WithHTTPClient(hc), chatclient.WithToken(token)).Do(ctx, "GET", path, nil, nil)
		}
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if err := send(wsA, fmt.Sprintf("message %d", i), fmt.Sprintf("obs-%s-%d", run, i)); err != nil {
				return
			}
			switch i % 5 {
			case 0:
				get(lb, fmt.Sprintf("/api/rooms/%d/messages?limit=20", room.ID), b.Token)
			case 1:
				get(gw, "/api/rooms", a.Token)
				wsB.Typing(room.ID)
			case 2:
				get(gw2, fmt.Sprintf("/api/rooms/%d", room.ID), b.Token)
			case 3:
				get(lb, "/api/me", a.Token)
				get(lb, "/readyz", "")
			case 4:
				if i%20 == 4 {
					get(gw, "/api/rooms/999999999", a.Token) // not_found
					get(gw2, "/api/rooms/999999999", b.Token)
				}
			}
		}
	}()

	// One-off events, then warm.
	tr.wg.Add(1)
	go func() {
		defer tr.wg.Done()
		defer close(tr.warm)
		time.Sleep(500 * time.Millisecond)
		// On each instance, so each one's /metrics has every family.
		for n, base := range []string{gw, gw2} {
			// A burst over send_burst: rate limited.
			if wsC, err := tr.dialErr(base, c.Token, room.ID, nil, false); err == nil {
				for i := 0; i < 60; i++ {
					tr.sent.Add(1)
					wsC.SendAsync(room.ID, "burst", fmt.Sprintf("burst-%s-%d-%d", run, n, i))
				}
				time.Sleep(300 * time.Millisecond)
				// A normal close: disconnect code 1000.
				wsC.CloseWith(chatclient.CloseNormal, "bye", time.Second)
			}
			// A resume from seq 0: replay, then 1001.
			if ws, err := tr.dialErr(base, c.Token, room.ID, chatclient.Since(0), false); err == nil {
				time.Sleep(300 * time.Millisecond)
				ws.CloseWith(chatclient.CloseGoingAway, "gone", time.Second)
			}
		}
		time.Sleep(time.Second)
	}()
	return tr
}

func (tr *traffic) waitWarm(t *testing.T) {
	t.Helper()
	select {
	case <-tr.warm:
	case <-time.After(20 * time.Second):
		t.Fatal("traffic did not warm up")
	}
}

func (tr *traffic) stop() {
	tr.cancel()
	tr.mu.Lock()
	for _, ws := range tr.conns {
		ws.Close()
	}
	tr.mu.Unlock()
	tr.wg.Wait()
}

func (tr *traffic) dial(t *testing.T, base, token string, room int64, since *int64, count bool) *chatclient.Conn {
	t.Helper()
	ws, err := tr.dialErr(base, token, room, since, count)
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

// dialErr connects (the token in the query), subscribes and waits for
// "subscribed"; with count, the messages it receives count as received.
func (tr *traffic) dialErr(base, token string, room int64, since *int64, count bool) (*chatclient.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	o := &chatclient.DialOptions{TokenInQuery: true, OnEvent: func(*chatclient.Event) {}}
	if count {
		o.OnEvent = func(e *chatclient.Event) {
			if e.Type == chatclient.TypeMessage {
				tr.received.Add(1)
			}
		}
	}
	ws, err := chatclient.New(base, chatclient.WithToken(token)).Dial(ctx, o)
	if err != nil {
		return nil, err
	}
	if _, err := ws.Subscribe(ctx, room, since); err != nil {
		ws.Drop()
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	tr.mu.Lock()
	tr.conns = append(tr.conns, ws)
	tr.mu.Unlock()
	return ws, nil
}

func register(t *testing.T, base, name string) user {
	t.Helper()
	var r struct {
		User  struct{ ID int64 }
		Token string
	}
	lbJSON(t, lbDo(t, "POST", base+"/api/auth/register", "", map[string]any{
		"name": name, "email": name + "@obs.test", "password": "correct horse battery",
	}, 201), &r)
	return user{ID: r.User.ID, Token: r.Token}
}

// ---------- /metrics and the live page ----------

func checkFamilies(t *testing.T, u string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	have := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" {
			have[f[2]] = true
		}
	}
	var missing []string
	for _, n := range metricFamilies {
		if !have[n] {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%s lacks %d families: %s", u, len(missing), strings.Join(missing, ", "))
	}
}

func checkLivePage(t *testing.T, base string) {
	t.Helper()
	resp, err := http.Get(base + "/admin/live/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("/admin/live/: status %d, type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	page := string(b)
	for _, want := range []string{"/metrics", "chatgate_ws_connections", "chatgate_messages_stored_total", "chatgate_delivery_latency_seconds_bucket"} {
		if !strings.Contains(page, want) {
			t.Errorf("live page does not use %s", want)
		}
	}
	if regexp.MustCompile(`(?i)<script[^>]+src=|<link[^>]+href="?https?:|@import`).MatchString(page) {
		t.Errorf("live page loads external resources")
	}
}

// ---------- Prometheus API ----------

type promAPI struct{ base string }

type promResult struct {
	Type   string
	Vector []struct {
		Metric map[string]string `json:"metric"`
		Value  [2]any            `json:"value"`
	}
	Matrix []json.RawMessage
	Scalar [2]any
}

func (r promResult) empty() bool {
	switch r.Type {
	case "vector":
		return len(r.Vector) == 0
	case "matrix":
		return len(r.Matrix) == 0
	}
	return false
}

func (r promResult) allNaN() bool {
	if r.Type != "vector" || len(r.Vector) == 0 {
		return false
	}
	for _, s := range r.Vector {
		if v, _ := s.Value[1].(string); v != "NaN" {
			return false
		}
	}
	return true
}

func (p *promAPI) get(path string, params url.Values, v any) error {
	resp, err := http.Get(p.base + path + "?" + params.Encode())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var env struct {
		Status    string          `json:"status"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return fmt.Errorf("%s: status %d: %w", path, resp.StatusCode, err)
	}
	if env.Status != "success" {
		return fmt.Errorf("%s: %s: %s", path, env.ErrorType, env.Error)
	}
	return json.Unmarshal(env.Data, v)
}

func (p *promAPI) query(q string) (promResult, error) {
	var d struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := p.get("/api/v1/query", url.Values{"query": {q}}, &d); err != nil {
		return promResult{}, err
	}
	r := promResult{Type: d.ResultType}
	var err error
	switch d.ResultType {
	case "vector":
		err = json.Unmarshal(d.Result, &r.Vector)
	case "matrix":
		err = json.Unmarshal(d.Result, &r.Matrix)
	case "scalar":
		err = json.Unmarshal(d.Result, &r.Scalar)
	}
	return r, err
}

// waitScrapes waits until every gateway (and the LB and Prometheus) is up
// and each gateway has been scraped samples times, so every rate window has
// points.
func (p *promAPI) waitScrapes(t *testing.T, gateways, samples int) {
	t.Helper()
	deadline := time.Now().Add(40 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		up, err1 := p.query(`up == 1`)
		n, err2 := p.query(fmt.Sprintf(`count_over_time(chatgate_ws_connections{job="chatgate"}[1m]) >= %d`, samples))
		if err1 == nil && err2 == nil && len(up.Vector) >= gateways+2 && len(n.Vector) == gateways {
			return
		}
		last = fmt.Sprintf("up: %+v %v; samples: %+v %v", up.Vector, err1, n.Vector, err2)
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("prometheus did not scrape every target %d times: %s", samples, last)
}

func (p *promAPI) metricNames(t *testing.T) map[string]bool {
	t.Helper()
	var names []string
	if err := p.get("/api/v1/label/__name__/values", url.Values{}, &names); err != nil {
		t.Fatal(err)
	}
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}

// checkRuleHealth waits for two evaluations of every rule and wants each
// one healthy.
func (p *promAPI) checkRuleHealth(t *testing.T, want int) {
	t.Helper()
	type ruleState struct {
		Name           string    `json:"name"`
		Health         string    `json:"health"`
		LastError      string    `json:"lastError"`
		LastEvaluation time.Time `json:"lastEvaluation"`
	}
	since := time.Now()
	deadline := since.Add(15 * time.Second)
	for {
		var d struct {
			Groups []struct {
				Rules []ruleState `json:"rules"`
			} `json:"groups"`
		}
		if err := p.get("/api/v1/rules", url.Values{}, &d); err != nil {
			t.Fatal(err)
		}
		var all []ruleState
		fresh := true
		for _, g := range d.Groups {
			for _, r := range g.Rules {
				all = append(all, r)
				fresh = fresh && r.LastEvaluation.After(since.Add(time.Second))
			}
		}
		if len(all) != want {
			t.Fatalf("prometheus loaded %d rules, alerts.yml has %d", len(all), want)
		}
		if fresh || time.Now().After(deadline) {
			var bad []string
			for _, r := range all {
				if r.Health != "ok" || r.LastError != "" {
					bad = append(bad, fmt.Sprintf("%s: %s %s", r.Name, r.Health, r.LastError))
				}
			}
			sort.Strings(bad)
			if len(bad) > 0 || !fresh {
				t.Errorf("rule health (fresh=%v): %v", fresh, bad)
			}
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// ---------- processes and helpers ----------

func httpStatus(t *testing.T, u string) int {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
