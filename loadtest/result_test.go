package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func goodPartial() *Partial {
	t0 := time.Unix(1000, 0)
	return &Partial{
		UsersPlanned: 4, UsersConnected: 4, Sent: 100, Acked: 100,
		ExpectedDeliveries: 400, Delivered: 400,
		SendStart: t0, SendEnd: t0.Add(10 * time.Second), LastDelivery: t0.Add(10 * time.Second),
		Latency: histOf(1000, 2000, 3000), Connect: histOf(500), Ack: histOf(900), Reconnect: histOf(1_500_000, 2_500_000),
		API: map[string]*RouteStats{
			"GET /api/rooms/{id}":          {Hist: histOf(2000, 4000), Count: 2, CacheHits: 1},
			"GET /api/rooms/{id}/messages": {Hist: histOf(1000, 1000), Count: 2, CacheHits: 0},
		},
		Timeline: PartialTimeline{
			Latency:   map[int]Hist{1: histOf(1000, 3000)},
			Sent:      []int64{0, 10, 0, 0},
			Delivered: []int64{0, 40, 0, 0},
			Connected: []int64{4, 4, 0, 0},
		},
	}
}

func testRunInfo() runInfo {
	cfg := &Config{Users: 4, Rooms: 1, Rate: 10, Duration: 10 * time.Second, MetricsURLs: []string{"http://x/metrics"}, LeakCheck: "fail"}
	return runInfo{cfg: cfg, origin: time.Unix(999, 0), wallSecs: 20,
		leak: LeakCheck{Mode: "fail", Checked: true, Passed: true}}
}

func TestBuildResultRequiredFields(t *testing.T) {
	r := buildResult(goodPartial(), testRunInfo())
	if !r.Passed || len(r.Failures) != 0 {
		t.Fatalf("should pass: %v", r.Failures)
	}
	raw, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"users_connected", "sent", "acked", "expected_deliveries", "delivered", "lost",
		"duplicated", "reordered", "latency_ms", "deliveries_per_sec", "api_latency_ms", "cache_hit_ratio", "server", "reconnect_s"} {
		if _, ok := m[k]; !ok {
			t.Errorf("missing field %s", k)
		}
	}
	sub := func(obj string, keys ...string) {
		o, _ := m[obj].(map[string]any)
		for _, k := range keys {
			if _, ok := o[k]; !ok {
				t.Errorf("missing %s.%s", obj, k)
			}
		}
	}
	sub("latency_ms", "p50", "p95", "p99", "p999", "max")
	sub("api_latency_ms", "p50", "p95", "p99")
	sub("server", "cpu_percent", "rss_bytes", "rss_bytes_per_conn")
	sub("reconnect_s", "p50", "max")

	if r.DeliveriesPerSec != 40 || r.SendsPerSec != 10 {
		t.Fatalf("rates: %v %v", r.DeliveriesPerSec, r.SendsPerSec)
	}
	if r.CacheHitRatio != 0.25 || r.APIRequests != 4 {
		t.Fatalf("cache: %v of %d", r.CacheHitRatio, r.APIRequests)
	}
	if r.LatencyMS.P50 < 1.99 || r.LatencyMS.P50 > 2.01 || r.LatencyMS.Max < 2.99 || r.LatencyMS.Max > 3.01 {
		t.Fatalf("latency: %+v", r.LatencyMS)
	}
	if r.ReconnectS.Max < 2.49 || r.ReconnectS.Max > 2.51 || r.ReconnectS.Count != 2 {
		t.Fatalf("reconnect: %+v", r.ReconnectS)
	}
	if len(r.Timeline.Points) != 2 || r.Timeline.Points[1].P99 < 2.99 || r.Timeline.SendStartS != 1 {
		t.Fatalf("timeline: %+v", r.Timeline)
	}
}

func TestJudgeFailsOnEveryCorrectnessProblem(t *testing.T) {
	cases := map[string]func(p *Partial, ri *runInfo){
		"lost":          func(p *Partial, _ *runInfo) { p.Lost = 1 },
		"duplicated":    func(p *Partial, _ *runInfo) { p.Duplicated = 1 },
		"stored twice":  func(p *Partial, _ *runInfo) { p.StoredTwice = 1 },
		"reordered":     func(p *Partial, _ *runInfo) { p.Reordered = 1 },
		"unacked":       func(p *Partial, _ *runInfo) { p.Unacked = 1 },
		"refused":       func(p *Partial, _ *runInfo) { p.SendErrors = 1 },
		"not connected": func(p *Partial, _ *runInfo) { p.UsersConnected = 3 },
		"leak": func(_ *Partial, ri *runInfo) {
			ri.leak.Passed = false
			ri.leak.Targets = []LeakTarget{{URL: "u", Reason: "goroutines 1 → 99"}}
		},
	}
	for name, mutate := range cases {
		p, ri := goodPartial(), testRunInfo()
		mutate(p, &ri)
		r := buildResult(p, ri)
		if r.Passed || len(r.Failures) == 0 {
			t.Errorf("%s: must fail", name)
		}
	}
	// Repaired gaps, rate limiting and a leak in warn mode only warn.
	p, ri := goodPartial(), testRunInfo()
	p.Gaps, p.Recovered, p.RateLimited = 3, 3, 2
	ri.leak = LeakCheck{Mode: "warn", Checked: true, Passed: false}
	r := buildResult(p, ri)
	if !r.Passed || len(r.Warnings) != 3 {
		t.Fatalf("warnings only: passed=%v warnings=%q failures=%q", r.Passed, r.Warnings, r.Failures)
	}
}

func TestPrintSummary(t *testing.T) {
	p := goodPartial()
	p.Lost = 2
	var sb strings.Builder
	printSummary(&sb, buildResult(p, testRunInfo()))
	out := sb.String()
	for _, want := range []string{"loadtest FAIL", "lost 2", "FAILURE           2 deliveries lost", "GET /api/rooms/{id}"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}

func TestFormatting(t *testing.T) {
	for in, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := fmtCount(in); got != want {
			t.Errorf("fmtCount(%d) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[float64]string{512: "512 B", 2048: "2.0 KiB", 3 << 20: "3.0 MiB", -1536: "-1.5 KiB"} {
		if got := fmtBytes(in); got != want {
			t.Errorf("fmtBytes(%v) = %q, want %q", in, got, want)
		}
	}
}
