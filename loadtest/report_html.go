package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"os"
	"sort"
	"strings"
)

// renderHTML builds the self-contained report: inline CSS and SVG, no
// scripts, no external references, so it opens from a file or an artifact
// store with no network.
func renderHTML(r *Result) ([]byte, error) {
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode result for report: %w", err)
	}
	data := struct {
		R       *Result
		Verdict string
		Charts  []template.HTML
		Soak    []template.HTML
		Routes  []routeRow
		Kinds   []kindRow
		JSON    string
	}{R: r, Verdict: "PASS", JSON: string(raw)}
	if !r.Passed {
		data.Verdict = "FAIL"
	}
	for _, c := range reportCharts(r) {
		data.Charts = append(data.Charts, template.HTML(c.svg())) // built from numbers and escaped labels
	}
	for _, c := range soakCharts(r.LeakCheck) {
		data.Soak = append(data.Soak, template.HTML(c.svg()))
	}
	for name, rs := range r.APIRoutes {
		data.Routes = append(data.Routes, routeRow{name, rs})
	}
	sort.Slice(data.Routes, func(i, j int) bool { return data.Routes[i].Name < data.Routes[j].Name })
	if r.Config.Mix.events() {
		for _, k := range kindNames {
			if l, ok := r.LatencyByKindMS[k]; ok {
				data.Kinds = append(data.Kinds, kindRow{k, l})
			}
		}
	}
	var buf bytes.Buffer
	if err := reportTmpl.Execute(&buf, data); err != nil {
		return nil, fmt.Errorf("render report: %w", err)
	}
	return buf.Bytes(), nil
}

type kindRow struct {
	Name string
	LatencyMS
}

type routeRow struct {
	Name string
	RouteSummary
}

func writeHTML(path string, r *Result) error {
	b, err := renderHTML(r)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// reportCharts lays out the five charts the issue asks for.
func reportCharts(r *Result) []chart {
	tl := r.Timeline
	var band *chartBand
	if tl.SendEndS > tl.SendStartS {
		band = &chartBand{tl.SendStartS, tl.SendEndS}
	}
	var marks []chartMark
	for _, k := range r.Kills {
		marks = append(marks, chartMark{X: k.AtS, Label: k.Name})
	}
	var xs, p50, p95, p99, mx, deliv, sent, conns []float64
	for _, p := range tl.Points {
		x := float64(p.T) + 0.5 // a second's values belong to its middle
		xs = append(xs, x)
		deliv = append(deliv, float64(p.Delivered))
		sent = append(sent, float64(p.Sent))
		conns = append(conns, float64(p.Connected))
		if p.Delivered > 0 && p.Max > 0 {
			p50, p95, p99, mx = append(p50, p.P50), append(p95, p.P95), append(p99, p.P99), append(mx, p.Max)
		} else {
			nan := math.NaN() // no deliveries that second: leave a hole in the line
			p50, p95, p99, mx = append(p50, nan), append(p95, nan), append(p99, nan), append(mx, nan)
		}
	}
	lat := chart{Title: "Delivery latency per second (send → deliver)", YUnit: "ms", Band: band, Marks: marks, Series: []chartSeries{
		{Name: "p50", X: xs, Y: p50}, {Name: "p95", X: xs, Y: p95}, {Name: "p99", X: xs, Y: p99},
	}}
	latMax := chart{Title: "Delivery latency: maximum per second", YUnit: "ms", Band: band, Marks: marks, Series: []chartSeries{
		{Name: "max", X: xs, Y: mx, Color: "#d62728"},
	}}
	thr := chart{Title: "Throughput", YUnit: "per second", Band: band, Marks: marks, Series: []chartSeries{
		{Name: "deliveries/s", X: xs, Y: deliv}, {Name: "sends/s", X: xs, Y: sent, Dashed: true},
	}}
	cn := chart{Title: "Connections (subscribed)", YUnit: "connections", Band: band, Marks: marks, Series: []chartSeries{
		{Name: "connected", X: xs, Y: conns},
	}}
	cpu := chart{Title: "Server CPU (100% = one core)", YUnit: "%", Band: band, Marks: marks}
	rss := chart{Title: "Server resident memory", YUnit: "MiB", Band: band, Marks: marks}
	for ti, target := range tl.Targets {
		var x, c, m []float64
		for _, p := range tl.Server {
			if p.Target != ti {
				continue
			}
			x = append(x, p.T)
			c = append(c, p.CPUPercent)
			m = append(m, float64(p.RSSBytes)/(1<<20))
		}
		name := target
		if len(tl.Targets) == 1 {
			name = "server"
		}
		cpu.Series = append(cpu.Series, chartSeries{Name: name, X: x, Y: c})
		rss.Series = append(rss.Series, chartSeries{Name: name, X: x, Y: m})
	}
	all := []chart{lat, latMax, thr, cn, cpu, rss}
	if n := len(tl.Points); n > 0 {
		for i := range all {
			all[i].XMin, all[i].XMax = 0, float64(tl.Points[n-1].T+1)
		}
	}
	return all
}

// soakCharts draws each target's heap, goroutines and RSS after every
// cycle's forced GC, the baseline at cycle 0; the heap chart marks the
// window the plateau verdict judged.
func soakCharts(lc LeakCheck) []chart {
	if !lc.Checked || lc.Cycles < 2 {
		return nil
	}
	heap := chart{Title: "Heap after each cycle's forced GC", YUnit: "MiB (heap_alloc)", XUnit: "cycle"}
	gor := chart{Title: "Goroutines after each cycle", YUnit: "goroutines", XUnit: "cycle"}
	rss := chart{Title: "Resident memory after each cycle", YUnit: "MiB", XUnit: "cycle"}
	for _, t := range lc.Targets {
		var x, h, g, m []float64
		for _, p := range t.Points {
			x = append(x, float64(p.Cycle))
			if p.Error != "" {
				nan := math.NaN()
				h, g, m = append(h, nan), append(g, nan), append(m, nan)
				continue
			}
			h = append(h, p.HeapAlloc/(1<<20))
			g = append(g, p.Goroutines)
			m = append(m, p.RSS/(1<<20))
		}
		// host:port keeps the legend clear of the title.
		name := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(t.URL, "http://"), "https://"), "/metrics")
		if len(lc.Targets) == 1 {
			name = "server"
		}
		heap.Series = append(heap.Series, chartSeries{Name: name, X: x, Y: h})
		gor.Series = append(gor.Series, chartSeries{Name: name, X: x, Y: g})
		rss.Series = append(rss.Series, chartSeries{Name: name, X: x, Y: m})
		if w := t.Plateau.Window; t.Plateau.Judged && heap.Band == nil {
			heap.Band = &chartBand{From: float64(lc.Cycles - w + 1), To: float64(lc.Cycles)}
		}
	}
	all := []chart{heap, gor, rss}
	for i := range all {
		all[i].XMin, all[i].XMax = 0, float64(lc.Cycles)
	}
	return all
}

// writeSoakSVG writes the soak's heap chart as a standalone SVG file (for
// BENCHMARKS.md).
func writeSoakSVG(path string, r *Result) error {
	cs := soakCharts(r.LeakCheck)
	if len(cs) == 0 {
		return fmt.Errorf("-soak-svg: no soak (2 or more cycles with the leak check on) to draw")
	}
	if err := os.WriteFile(path, []byte(cs[0].svg()+"\n"), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"count": fmtCount,
	"bytes": fmtBytes,
	"pct":   func(f float64) string { return fmt.Sprintf("%.1f%%", f*100) },
	"float": func(n int64) float64 { return float64(n) },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Chatgate load test {{.Verdict}} {{.R.StartedAt.Format "2006-01-02 15:04:05"}}</title>
<style>
body{font-family:sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:22px} h2{font-size:17px;margin-top:28px}
.verdict{display:inline-block;padding:3px 10px;border-radius:4px;color:#fff;font-weight:bold}
.PASS{background:#2ca02c}.FAIL{background:#d62728}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:150px}
.card b{display:block;font-size:20px}
table{border-collapse:collapse;margin:8px 0}
td,th{border:1px solid #ddd;padding:4px 8px;text-align:right;font-size:13px}
th{background:#f5f5f5} td:first-child,th:first-child{text-align:left}
.chart{display:block;margin:10px 0;border:1px solid #eee}
code,pre{background:#f7f7f7;font-size:12px} pre{padding:8px;overflow:auto;max-height:400px}
.fail{color:#d62728}.warn{color:#b36b00}
</style></head><body>
<h1>Chatgate load test <span class="verdict {{.Verdict}}">{{.Verdict}}</span></h1>
<p>{{.R.StartedAt.Format "2006-01-02 15:04:05 MST"}} · <code>{{.R.Config.CommandLine}}</code></p>
{{range .R.Failures}}<p class="fail">✗ {{.}}</p>{{end}}
{{range .R.Warnings}}<p class="warn">⚠ {{.}}</p>{{end}}
<div class="cards">
<div class="card">delivery p99<b>{{printf "%.2f" .R.LatencyMS.P99}} ms</b>p50 {{printf "%.2f" .R.LatencyMS.P50}} · max {{printf "%.1f" .R.LatencyMS.Max}}</div>
<div class="card">deliveries/s<b>{{printf "%.0f" .R.DeliveriesPerSec}}</b>{{count .R.Delivered}} delivered</div>
<div class="card">lost / dup / reordered<b>{{.R.Lost}} / {{.R.Duplicated}} / {{.R.Reordered}}</b>of {{count .R.ExpectedDeliveries}} expected</div>
<div class="card">users connected<b>{{.R.UsersConnected}} / {{.R.Users}}</b>server cpu {{printf "%.0f" .R.Server.CPUPercent}}% · {{bytes .R.Server.MemBytesPerConn}}/conn</div>
</div>
<h2>Charts</h2>
<p>Shaded: the send phase. Dashed red lines: -kill signals.</p>
{{range .Charts}}{{.}}{{end}}
<h2>Results</h2>
<table>
<tr><th>field</th><th>value</th></tr>
<tr><td>users_connected</td><td>{{.R.UsersConnected}} of {{.R.Users}}</td></tr>
<tr><td>sent / acked / unacked</td><td>{{count .R.Sent}} / {{count .R.Acked}} / {{.R.Unacked}}</td></tr>
<tr><td>expected_deliveries / delivered</td><td>{{count .R.ExpectedDeliveries}} / {{count .R.Delivered}}</td></tr>
<tr><td>lost / duplicated / reordered</td><td>{{.R.Lost}} / {{.R.Duplicated}} / {{.R.Reordered}}</td></tr>
<tr><td>gaps on live streams / recovered</td><td>{{.R.Gaps}} / {{.R.Recovered}}</td></tr>
<tr><td>latency_ms p50 / p95 / p99 / p99.9 / max</td><td>{{printf "%.3f / %.3f / %.3f / %.3f / %.3f" .R.LatencyMS.P50 .R.LatencyMS.P95 .R.LatencyMS.P99 .R.LatencyMS.P999 .R.LatencyMS.Max}}</td></tr>
<tr><td>ack ms p50 / p99 / max</td><td>{{printf "%.3f / %.3f / %.3f" .R.AckMS.P50 .R.AckMS.P99 .R.AckMS.Max}}</td></tr>
<tr><td>connect ms p50 / p99 / max</td><td>{{printf "%.2f / %.2f / %.2f" .R.ConnectMS.P50 .R.ConnectMS.P99 .R.ConnectMS.Max}}</td></tr>
<tr><td>deliveries_per_sec / sends per sec</td><td>{{printf "%.1f / %.1f" .R.DeliveriesPerSec .R.SendsPerSec}}</td></tr>
<tr><td>api_latency_ms p50 / p95 / p99</td><td>{{printf "%.3f / %.3f / %.3f" .R.APILatencyMS.P50 .R.APILatencyMS.P95 .R.APILatencyMS.P99}} ({{count .R.APIRequests}} requests, {{.R.APIErrors}} errors)</td></tr>
<tr><td>cache_hit_ratio</td><td>{{pct .R.CacheHitRatio}}</td></tr>
<tr><td>server cpu_percent (100 = 1 core)</td><td>{{printf "%.1f" .R.Server.CPUPercent}}</td></tr>
<tr><td>server rss_bytes (peak)</td><td>{{bytes (float .R.Server.RSSBytes)}}</td></tr>
<tr><td>server rss_bytes_per_conn / Go heap+stack per conn</td><td>{{bytes .R.Server.RSSBytesPerConn}} / {{bytes .R.Server.MemBytesPerConn}} (heap {{bytes .R.Server.HeapBytesPerConn}}, stacks {{bytes .R.Server.StackBytesPerConn}})</td></tr>
<tr><td>reconnect_s p50 / max (count)</td><td>{{printf "%.3f / %.3f" .R.ReconnectS.P50 .R.ReconnectS.Max}} ({{.R.ReconnectS.Count}})</td></tr>
<tr><td>closes: drained 1001 / too slow 4408 / rate limited / dropped</td><td>{{.R.Drained}} / {{.R.TooSlow}} / {{.R.RateLimited}} / {{.R.Dropped}}</td></tr>
<tr><td>generator cpu / send lag p50 / p99 / max ms</td><td>{{printf "%.1f" .R.GeneratorCPUPercent}}% / {{printf "%.3f / %.3f / %.3f" .R.SendLagMS.P50 .R.SendLagMS.P99 .R.SendLagMS.Max}}</td></tr>
</table>
{{if .Kinds}}<h2>Latency by kind of entry (-mix {{.R.Config.Mix}})</h2>
<p>Operations written: {{range $k, $n := .R.Ops}}{{$k}} {{count $n}} · {{end}}</p>
<table><tr><th>kind</th><th>delivered</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>max ms</th></tr>
{{range .Kinds}}<tr><td>{{.Name}}</td><td>{{count .Count}}</td><td>{{printf "%.3f" .P50}}</td><td>{{printf "%.3f" .P95}}</td><td>{{printf "%.3f" .P99}}</td><td>{{printf "%.3f" .P999}}</td><td>{{printf "%.3f" .Max}}</td></tr>
{{end}}</table>{{end}}
{{if .Routes}}<h2>REST reads by route</h2>
<table><tr><th>route</th><th>requests</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>max ms</th><th>errors</th><th>X-Cache hit</th></tr>
{{range .Routes}}<tr><td>{{.Name}}</td><td>{{.LatencyMS.Count}}</td><td>{{printf "%.3f" .LatencyMS.P50}}</td><td>{{printf "%.3f" .LatencyMS.P95}}</td><td>{{printf "%.3f" .LatencyMS.P99}}</td><td>{{printf "%.3f" .LatencyMS.Max}}</td><td>{{.Errors}}</td><td>{{pct .CacheHitRatio}}</td></tr>
{{end}}</table>{{end}}
<h2>Servers</h2>
<table><tr><th>/metrics</th><th>cpu %</th><th>rss peak</th><th>samples</th><th>errors</th></tr>
{{range .R.Server.Targets}}<tr><td>{{.URL}}</td><td>{{printf "%.1f" .CPUPercent}}</td><td>{{bytes (float .RSSPeak)}}</td><td>{{.Samples}}</td><td>{{.Errors}}</td></tr>
{{end}}</table>
{{if .R.LeakCheck.Checked}}<h2>Leak check: {{.R.LeakCheck.Cycles}} cycle(s), {{if .R.LeakCheck.Passed}}passed{{else}}FAILED{{end}}{{if not .R.LeakCheck.Judged}}, heap not judged{{end}}</h2>
<p>{{.R.LeakCheck.Rule}}. Waited {{printf "%.0f" .R.LeakCheck.Waited}} s in all for servers to settle.{{if .Soak}} Shaded: the cycles the heap verdict judged.{{end}}</p>
{{range .Soak}}{{.}}{{end}}
<table><tr><th>target</th><th>goroutines baseline</th><th>last cycle</th><th>heap baseline</th><th>last cycle</th><th>window</th><th>peak rise</th><th>trough rise</th><th>bound</th><th>slope /cycle</th><th>verdict</th></tr>
{{range .R.LeakCheck.Targets}}<tr><td>{{.URL}}</td><td>{{printf "%.0f" .GoroutinesBefore}}</td><td>{{printf "%.0f" .GoroutinesAfter}}</td><td>{{bytes .HeapBefore}}</td><td>{{bytes .HeapAfter}}</td>{{if .Plateau.Judged}}<td>{{.Plateau.Window}}</td><td>{{bytes .Plateau.PeakRise}}</td><td>{{bytes .Plateau.TroughRise}}</td><td>{{bytes .Plateau.Bound}}</td><td>{{bytes .Plateau.SlopePerCycle}}</td>{{else}}<td colspan="5">{{.Plateau.Reason}}</td>{{end}}<td>{{if .Passed}}ok{{else}}{{.Reason}}{{end}}</td></tr>
{{end}}</table>
{{range .R.LeakCheck.Targets}}<details><summary>{{.URL}}: every cycle</summary><table><tr><th>cycle</th><th>t s</th><th>heap</th><th>goroutines</th><th>rss</th><th>settled in s</th></tr>
{{range .Points}}<tr><td>{{.Cycle}}</td><td>{{printf "%.0f" .T}}</td><td>{{bytes .HeapAlloc}}</td><td>{{printf "%.0f" .Goroutines}}</td><td>{{bytes .RSS}}</td><td>{{printf "%.1f" .Waited}}{{if .Error}} {{.Error}}{{end}}</td></tr>
{{end}}</table></details>{{end}}{{end}}
{{if .R.Kills}}<h2>Kills</h2><table><tr><th>signal</th><th>pid</th><th>at s</th><th>error</th></tr>
{{range .R.Kills}}<tr><td>{{.Name}}</td><td>{{.PID}}</td><td>{{printf "%.1f" .AtS}}</td><td>{{.Error}}</td></tr>{{end}}</table>{{end}}
{{if .R.Errors}}<h2>Errors seen</h2><ul>{{range .R.Errors}}<li><code>{{.}}</code></li>{{end}}</ul>{{end}}
<h2>Raw result</h2>
<details><summary>JSON</summary><pre>{{.JSON}}</pre></details>
</body></html>
`))
