package main

import (
	"fmt"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Result is the -json output. The first block holds the fields issue 3
// names; the rest explains them.
type Result struct {
	UsersConnected     int       `json:"users_connected"`
	Sent               int64     `json:"sent"`
	Acked              int64     `json:"acked"`
	ExpectedDeliveries int64     `json:"expected_deliveries"`
	Delivered          int64     `json:"delivered"`
	Lost               int64     `json:"lost"`
	Duplicated         int64     `json:"duplicated"`
	Reordered          int64     `json:"reordered"`
	LatencyMS          LatencyMS `json:"latency_ms"`
	// LatencyByKindMS splits latency_ms by stream entry: message, and with
	// -mix edit, delete, react (a reaction added or removed).
	LatencyByKindMS map[string]LatencyMS `json:"latency_by_kind_ms,omitempty"`
	// Ops counts what -mix wrote (statNames).
	Ops              map[string]int64 `json:"ops,omitempty"`
	DeliveriesPerSec float64          `json:"deliveries_per_sec"`
	APILatencyMS     LatencyMS        `json:"api_latency_ms"`
	CacheHitRatio    float64          `json:"cache_hit_ratio"`
	Server           ServerSummary    `json:"server"`
	ReconnectS       ReconnectS       `json:"reconnect_s"`

	Passed    bool      `json:"passed"`
	Failures  []string  `json:"failures"`
	Warnings  []string  `json:"warnings"`
	StartedAt time.Time `json:"started_at"`
	Config    Config    `json:"config"`

	Users        int                     `json:"users"`
	ConnectMS    LatencyMS               `json:"connect_ms"`
	AckMS        LatencyMS               `json:"ack_ms"`
	SendLagMS    LatencyMS               `json:"send_lag_ms"`
	APIRoutes    map[string]RouteSummary `json:"api_routes"`
	APIRequests  int64                   `json:"api_requests"`
	APIErrors    int64                   `json:"api_errors"`
	SendsPerSec  float64                 `json:"sends_per_sec"`
	Unacked      int64                   `json:"unacked"`
	SendErrors   int64                   `json:"send_errors"`
	StoredTwice  int64                   `json:"stored_twice"`
	Gaps         int64                   `json:"gaps"`
	Recovered    int64                   `json:"recovered"`
	RateLimited  int64                   `json:"rate_limited"`
	TooSlow      int64                   `json:"too_slow"`
	Drained      int64                   `json:"drained"`
	Unauthorized int64                   `json:"unauthorized"`
	Dropped      int64                   `json:"dropped"`
	Reconnects   int64                   `json:"reconnects"`
	DialErrors   int64                   `json:"dial_errors"`

	GeneratorCPUPercent float64     `json:"generator_cpu_percent"`
	LeakCheck           LeakCheck   `json:"leak_check"`
	Kills               []KillEvent `json:"kills,omitempty"`
	Errors              []string    `json:"errors,omitempty"`
	Timeline            Timeline    `json:"timeline"`
}

// ReconnectS is the time from losing a connection to being subscribed again.
type ReconnectS struct {
	P50   float64 `json:"p50"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
	Count int64   `json:"count"`
}

// RouteSummary is one REST route in the result.
type RouteSummary struct {
	LatencyMS     LatencyMS `json:"latency_ms"`
	Errors        int64     `json:"errors"`
	CacheHitRatio float64   `json:"cache_hit_ratio"`
}

// Timeline is what the HTML charts draw; t is seconds since the origin (the
// start of the connection ramp).
type Timeline struct {
	SendStartS float64         `json:"send_start_s"`
	SendEndS   float64         `json:"send_end_s"`
	Points     []TimelinePoint `json:"points"`
	Server     []ServerPoint   `json:"server"`
	Targets    []string        `json:"targets"`
}

// TimelinePoint is one second of client-side measurements.
type TimelinePoint struct {
	T         int     `json:"t"`
	Sent      int64   `json:"sent"`
	Acked     int64   `json:"acked"`
	Delivered int64   `json:"delivered"`
	Connected int64   `json:"connected"`
	P50       float64 `json:"p50_ms"`
	P95       float64 `json:"p95_ms"`
	P99       float64 `json:"p99_ms"`
	Max       float64 `json:"max_ms"`
}

// runInfo is what the parent knows besides the workers' partials.
type runInfo struct {
	cfg       *Config
	started   time.Time
	origin    time.Time
	server    ServerSummary
	points    []ServerPoint
	leak      LeakCheck
	kills     []KillEvent
	wallSecs  float64
	sendSecs  float64 // Σ of the cycles' send phases (0: use the partial's)
	delivSecs float64 // Σ of the cycles' send → last delivery windows
	setupWarn []string
}

// buildResult turns merged measurements into the report and its verdict.
func buildResult(p *Partial, ri runInfo) *Result {
	cfg := ri.cfg
	r := &Result{
		UsersConnected:     p.UsersConnected,
		Sent:               p.Sent,
		Acked:              p.Acked,
		ExpectedDeliveries: p.ExpectedDeliveries,
		Delivered:          p.Delivered,
		Lost:               p.Lost,
		Duplicated:         p.Duplicated + p.StoredTwice,
		Reordered:          p.Reordered,
		LatencyMS:          latencyMS(p.Latency.H),
		Ops:                p.Ops,
		Server:             ri.server,
		ReconnectS:         reconnectS(p.Reconnect.H),
		StartedAt:          ri.started,
		Config:             *cfg,
		Users:              p.UsersPlanned,
		ConnectMS:          latencyMS(p.Connect.H),
		AckMS:              latencyMS(p.Ack.H),
		SendLagMS:          latencyMS(p.SendLag.H),
		APIRoutes:          map[string]RouteSummary{},
		Unacked:            p.Unacked,
		SendErrors:         p.SendErrors,
		StoredTwice:        p.StoredTwice,
		Gaps:               p.Gaps,
		Recovered:          p.Recovered,
		RateLimited:        p.RateLimited,
		TooSlow:            p.TooSlow,
		Drained:            p.Drained,
		Unauthorized:       p.Unauthorized,
		Dropped:            p.Dropped,
		Reconnects:         p.Reconnects,
		DialErrors:         p.DialErrors,
		LeakCheck:          ri.leak,
		Kills:              ri.kills,
		Errors:             topErrors(p.Errors, 15),
		Failures:           []string{},
		Warnings:           append([]string{}, ri.setupWarn...),
	}
	if !p.SendStart.IsZero() {
		// A soak's rates are over its cycles' send phases, not the gaps.
		window, d := ri.delivSecs, ri.sendSecs
		if window <= 0 || d <= 0 {
			window = maxTime(p.LastDelivery, p.SendEnd).Sub(p.SendStart).Seconds()
			d = p.SendEnd.Sub(p.SendStart).Seconds()
		}
		if window > 0 {
			r.DeliveriesPerSec = round3(float64(p.Delivered) / window)
		}
		if r.DeliveriesPerSec > 0 {
			// Both are rates over the same window.
			r.Server.CPUMicrosPerDelivery = round3(r.Server.CPUDeliveringPercent / 100 / r.DeliveriesPerSec * 1e6)
		}
		if d > 0 {
			r.SendsPerSec = round3(float64(p.Sent) / d)
		}
	}
	var apiAll *hdr.Histogram
	var hits int64
	for route, rs := range p.API {
		mergeInto(&apiAll, rs.Hist.H)
		r.APIRequests += rs.Count
		r.APIErrors += rs.Errors
		hits += rs.CacheHits
		sum := RouteSummary{LatencyMS: latencyMS(rs.Hist.H), Errors: rs.Errors}
		if rs.Count > 0 {
			sum.CacheHitRatio = round3(float64(rs.CacheHits) / float64(rs.Count))
		}
		r.APIRoutes[route] = sum
	}
	for k, h := range p.LatencyByKind {
		if r.LatencyByKindMS == nil {
			r.LatencyByKindMS = map[string]LatencyMS{}
		}
		r.LatencyByKindMS[k] = latencyMS(h.H)
	}
	r.APILatencyMS = latencyMS(apiAll)
	if r.APIRequests > 0 {
		r.CacheHitRatio = round3(float64(hits) / float64(r.APIRequests))
	}
	if ri.wallSecs > 0 {
		r.GeneratorCPUPercent = round3(p.GeneratorCPUSeconds / ri.wallSecs * 100)
	}
	r.Timeline = buildTimeline(p, ri)
	r.judge()
	return r
}

func reconnectS(h *hdr.Histogram) ReconnectS {
	if h == nil || h.TotalCount() == 0 {
		return ReconnectS{}
	}
	s := func(us int64) float64 { return round3(float64(us) / 1e6) }
	return ReconnectS{P50: s(h.ValueAtQuantile(50)), P99: s(h.ValueAtQuantile(99)), Max: s(h.Max()), Count: h.TotalCount()}
}

// judge decides pass/fail. Correctness failures (anything lost, duplicated
// or out of order, a send never acked, a user never connected, a leak in
// "fail" mode) make the exit status 1; the rest are warnings.
func (r *Result) judge() {
	fail := func(cond bool, format string, args ...any) {
		if cond {
			r.Failures = append(r.Failures, fmt.Sprintf(format, args...))
		}
	}
	warn := func(cond bool, format string, args ...any) {
		if cond {
			r.Warnings = append(r.Warnings, fmt.Sprintf(format, args...))
		}
	}
	fail(r.Lost > 0, "%d deliveries lost", r.Lost)
	fail(r.Duplicated > 0, "%d deliveries duplicated (%d of them a cid stored twice)", r.Duplicated, r.StoredTwice)
	fail(r.Reordered > 0, "%d deliveries out of seq order", r.Reordered)
	fail(r.Unacked > 0, "%d sends never acked", r.Unacked)
	fail(r.SendErrors > 0, "%d sends refused by the server", r.SendErrors)
	fail(r.UsersConnected < r.Users, "%d of %d users never connected", r.Users-r.UsersConnected, r.Users)
	fail(r.Sent == 0 && r.Config.Rate > 0, "nothing was sent")
	if r.LeakCheck.Checked && !r.LeakCheck.Passed {
		var reasons []string
		for _, t := range r.LeakCheck.Targets {
			if !t.Passed {
				reasons = append(reasons, t.URL+": "+t.Reason)
			}
		}
		msg := fmt.Sprintf("leak check over %d cycle(s): %v", r.LeakCheck.Cycles, reasons)
		fail(r.LeakCheck.Mode == "fail", "%s", msg)
		warn(r.LeakCheck.Mode == "warn", "%s", msg)
	}
	if m := r.Config.Mix; m.events() {
		for _, kw := range []struct {
			kind string
			w    float64
		}{{"edit", m.Edit}, {"delete", m.Delete}, {"react", m.React}} {
			warn(kw.w > 0 && r.Sent > 0 && r.LatencyByKindMS[kw.kind].Count == 0, "-mix asked for %s but none was delivered", kw.kind)
		}
		warn(r.Ops["noop"] > 0, "%d room events changed nothing (noop acks): the generator's reaction tracking disagrees with the server", r.Ops["noop"])
	}
	warn(r.Gaps > 0, "%d seq gaps on live streams (%d deliveries recovered with since/after=)", r.Gaps, r.Recovered)
	warn(r.RateLimited > 0, "%d sends or connections rate limited (4429 / rate_limited)", r.RateLimited)
	warn(r.TooSlow > 0, "%d connections closed as too slow (4408)", r.TooSlow)
	warn(r.APIErrors > 0, "%d REST reads failed", r.APIErrors)
	warn(r.SendLagMS.P99 > 10, "the generator wrote sends %.1f ms late at p99 (send_lag_ms): it is short of CPU, and latency includes its delay", r.SendLagMS.P99)
	warn(r.Server.RSSBytesPerConn < 0, "RSS fell while users connected (memory freed earlier, by setup's argon2id or a previous run, is returned to the OS lazily): rss_bytes_per_conn is not meaningful this run; read mem_bytes_per_conn, or measure a freshly started server with an existing -seed")
	for _, t := range r.Server.Targets {
		warn(t.Samples == 0, "no /metrics samples from %s (%s)", t.URL, t.LastError)
	}
	r.Passed = len(r.Failures) == 0
}

func buildTimeline(p *Partial, ri runInfo) Timeline {
	tl := Timeline{Server: ri.points}
	if !p.SendStart.IsZero() {
		tl.SendStartS = round3(p.SendStart.Sub(ri.origin).Seconds())
		tl.SendEndS = round3(p.SendEnd.Sub(ri.origin).Seconds())
	}
	tl.Targets = ri.cfg.MetricsURLs
	n := len(p.Timeline.Connected)
	for _, s := range [][]int64{p.Timeline.Sent, p.Timeline.Acked, p.Timeline.Delivered} {
		n = max(n, len(s))
	}
	// Trim the idle tail: nothing after the last second with activity.
	last := -1
	at := func(s []int64, i int) int64 {
		if i < len(s) {
			return s[i]
		}
		return 0
	}
	for i := 0; i < n; i++ {
		if at(p.Timeline.Sent, i)+at(p.Timeline.Acked, i)+at(p.Timeline.Delivered, i)+at(p.Timeline.Connected, i) > 0 {
			last = i
		}
	}
	for i := 0; i <= last; i++ {
		pt := TimelinePoint{T: i, Sent: at(p.Timeline.Sent, i), Acked: at(p.Timeline.Acked, i),
			Delivered: at(p.Timeline.Delivered, i), Connected: at(p.Timeline.Connected, i)}
		if h := p.Timeline.Latency[i].H; h != nil && h.TotalCount() > 0 {
			pt.P50 = usToMS(h.ValueAtQuantile(50))
			pt.P95 = usToMS(h.ValueAtQuantile(95))
			pt.P99 = usToMS(h.ValueAtQuantile(99))
			pt.Max = usToMS(h.Max())
		}
		tl.Points = append(tl.Points, pt)
	}
	return tl
}
