package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The server metrics the report uses, all from the standard Go and process
// collectors.
const (
	mCPU        = "process_cpu_seconds_total"
	mRSS        = "process_resident_memory_bytes"
	mGoroutines = "go_goroutines"
	mHeapInuse  = "go_memstats_heap_inuse_bytes"
	mHeapAlloc  = "go_memstats_heap_alloc_bytes"
	mStack      = "go_memstats_stack_inuse_bytes"
)

var wantedMetrics = map[string]bool{mCPU: true, mRSS: true, mGoroutines: true, mHeapInuse: true, mHeapAlloc: true, mStack: true}

// metricSample is one scrape of one target.
type metricSample struct {
	T          time.Time `json:"t"`
	CPU        float64   `json:"cpu_seconds"`
	RSS        float64   `json:"rss_bytes"`
	Goroutines float64   `json:"goroutines"`
	HeapInuse  float64   `json:"heap_inuse_bytes"`
	HeapAlloc  float64   `json:"heap_alloc_bytes"`
	StackInuse float64   `json:"stack_inuse_bytes"`
	Err        string    `json:"error,omitempty"`
}

func (s metricSample) ok() bool { return s.Err == "" && !s.T.IsZero() }

// parseMetrics reads the unlabelled samples of the wanted metrics from the
// Prometheus text format. Comments, labelled series and other metrics are
// skipped; the first sample of a name wins.
func parseMetrics(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, ok := strings.Cut(line, " ")
		if !ok || !wantedMetrics[name] {
			continue
		}
		if _, dup := out[name]; dup {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metric %s: bad value %q", name, fields[0])
		}
		out[name] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	return out, nil
}

// monitor samples every target's /metrics on a fixed period for the whole
// run; the samples feed CPU%, RSS, charts and the leak check.
type monitor struct {
	targets []string
	client  *http.Client

	mu      sync.Mutex
	samples [][]metricSample
}

func newMonitor(targets []string) *monitor {
	return &monitor{
		targets: targets,
		// One keep-alive connection per target, so sampling adds the same
		// two server goroutines before and after the run.
		// No gzip: compressing /metrics would itself grow the server heap.
		client:  &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}},
		samples: make([][]metricSample, len(targets)),
	}
}

func (m *monitor) scrapeOne(ctx context.Context, url string) metricSample {
	if isProcTarget(url) {
		pid, db, _ := parseProcTarget(url) // checked by parseFlags
		return procTreeSample("/proc", pid, db)
	}
	s := metricSample{T: time.Now()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		s.Err = err.Error()
		return s
	}
	resp, err := m.client.Do(req)
	if err != nil {
		s.Err = shortErr(err)
		return s
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		s.Err = fmt.Sprintf("HTTP %d", resp.StatusCode)
		return s
	}
	vals, err := parseMetrics(resp.Body)
	if err != nil {
		s.Err = err.Error()
		return s
	}
	if _, ok := vals[mRSS]; !ok {
		s.Err = "no " + mRSS + " in /metrics (process collector missing?)"
	}
	s.CPU, s.RSS, s.Goroutines, s.HeapInuse = vals[mCPU], vals[mRSS], vals[mGoroutines], vals[mHeapInuse]
	s.HeapAlloc, s.StackInuse = vals[mHeapAlloc], vals[mStack]
	return s
}

// snapshot scrapes every target now and keeps the samples in the series.
func (m *monitor) snapshot(ctx context.Context) []metricSample {
	out := make([]metricSample, len(m.targets))
	var wg sync.WaitGroup
	for i, t := range m.targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = m.scrapeOne(ctx, t)
		}()
	}
	wg.Wait()
	m.mu.Lock()
	for i, s := range out {
		m.samples[i] = append(m.samples[i], s)
	}
	m.mu.Unlock()
	return out
}

func (m *monitor) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.snapshot(ctx)
		}
	}
}

func (m *monitor) series() [][]metricSample {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([][]metricSample, len(m.samples))
	for i := range m.samples {
		out[i] = append([]metricSample(nil), m.samples[i]...)
	}
	return out
}

// forceGC asks each Caddy admin endpoint to run a GC (pprof's heap profile
// with gc=1 does one first), so heap figures are live memory, not garbage
// waiting for the next cycle. Twice: what a sync.Pool held (Caddy's proxy
// buffers, encoders) survives one GC in the pool's victim cache and is
// freed by the second.
func forceGC(ctx context.Context, client *http.Client, admins []string) {
	var wg sync.WaitGroup
	for _, a := range admins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 2 {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, a+"/debug/pprof/heap?gc=1", nil)
				if err != nil {
					return
				}
				resp, err := client.Do(req)
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
}

// ServerSummary is the server side of the result.
type ServerSummary struct {
	// CPUPercent is the servers' CPU over the send phase, summed over
	// targets; 100 means one core.
	CPUPercent float64 `json:"cpu_percent"`
	// RSSBytes is the peak resident memory, summed over targets.
	RSSBytes int64 `json:"rss_bytes"`
	// RSSBytesPerConn is (RSS with every user connected − RSS before any
	// connected) / users connected: what one connection costs the OS. RSS
	// is slow to shrink (memory freed after setup's argon2id is returned
	// lazily), so MemBytesPerConn, from the Go runtime's live heap and
	// goroutine stacks, is the steadier figure.
	RSSBytesPerConn   float64 `json:"rss_bytes_per_conn"`
	HeapBytesPerConn  float64 `json:"heap_bytes_per_conn"`
	StackBytesPerConn float64 `json:"stack_bytes_per_conn"`
	MemBytesPerConn   float64 `json:"mem_bytes_per_conn"`
	IdleRSSBytes      int64   `json:"idle_rss_bytes"`
	ConnectedRSSBytes int64   `json:"connected_rss_bytes"`
	GoroutinesPeak    int64   `json:"goroutines_peak"`
	// CPUDeliveringPercent is CPUPercent over the window deliveries_per_sec
	// uses (send start to the last delivery or the end of sending), and
	// CPUMicrosPerDelivery that CPU per delivered message: what
	// `make bench-peers` compares (issue 14).
	CPUDeliveringPercent float64         `json:"cpu_delivering_percent"`
	CPUMicrosPerDelivery float64         `json:"cpu_us_per_delivery"`
	Targets              []TargetSummary `json:"targets"`
}

// TargetSummary is one /metrics endpoint's share.
type TargetSummary struct {
	URL        string  `json:"url"`
	CPUPercent float64 `json:"cpu_percent"`
	RSSPeak    int64   `json:"rss_peak_bytes"`
	Samples    int     `json:"samples"`
	Errors     int     `json:"errors"`
	LastError  string  `json:"last_error,omitempty"`
}

// summarizeServer derives the server figures from the samples. idle and
// connected are snapshots taken before the ramp and just before sending.
func summarizeServer(targets []string, series [][]metricSample, idle, connected []metricSample, sendStart, sendEnd time.Time, conns int) ServerSummary {
	var s ServerSummary
	var idleRSS, connRSS, idleHeap, connHeap, idleStack, connStack float64
	for i, url := range targets {
		ts := TargetSummary{URL: url}
		var peakG float64
		for _, m := range series[i] {
			if !m.ok() {
				ts.Errors++
				ts.LastError = m.Err
				continue
			}
			ts.Samples++
			if int64(m.RSS) > ts.RSSPeak {
				ts.RSSPeak = int64(m.RSS)
			}
			if m.Goroutines > peakG {
				peakG = m.Goroutines
			}
		}
		ts.CPUPercent = round3(cpuPercent(series[i], sendStart, sendEnd))
		s.CPUPercent += ts.CPUPercent
		s.RSSBytes += ts.RSSPeak
		s.GoroutinesPeak += int64(peakG)
		if i < len(idle) && i < len(connected) && idle[i].ok() && connected[i].ok() {
			idleRSS += idle[i].RSS
			connRSS += connected[i].RSS
			idleHeap += idle[i].HeapAlloc
			connHeap += connected[i].HeapAlloc
			idleStack += idle[i].StackInuse
			connStack += connected[i].StackInuse
		}
		s.Targets = append(s.Targets, ts)
	}
	s.CPUPercent = round3(s.CPUPercent)
	s.IdleRSSBytes, s.ConnectedRSSBytes = int64(idleRSS), int64(connRSS)
	if conns > 0 && connRSS > 0 {
		s.RSSBytesPerConn = round3((connRSS - idleRSS) / float64(conns))
		s.HeapBytesPerConn = round3((connHeap - idleHeap) / float64(conns))
		s.StackBytesPerConn = round3((connStack - idleStack) / float64(conns))
		s.MemBytesPerConn = round3(s.HeapBytesPerConn + s.StackBytesPerConn)
	}
	return s
}

// cpuPercent is the CPU used from the last good sample at or before from
// (else the first) to the last good sample at or before to, as a percentage
// of one core. A counter that goes back means the process was restarted
// (a -kill run): the new process's count is added from zero.
func cpuPercent(samples []metricSample, from, to time.Time) float64 {
	var first, prev *metricSample
	used := 0.0
	for i := range samples {
		m := &samples[i]
		if !m.ok() || m.T.After(to) {
			continue
		}
		switch {
		case first == nil || !m.T.After(from):
			first, used = m, 0
		case m.CPU >= prev.CPU:
			used += m.CPU - prev.CPU
		default:
			used += m.CPU
		}
		prev = m
	}
	if first == nil || !prev.T.After(first.T) {
		return 0
	}
	return used / prev.T.Sub(first.T).Seconds() * 100
}

// ServerPoint is one chart point: a target's CPU% over the previous sample
// interval, and its RSS, at t seconds from the origin.
type ServerPoint struct {
	T          float64 `json:"t"`
	Target     int     `json:"target"`
	CPUPercent float64 `json:"cpu_percent"`
	RSSBytes   int64   `json:"rss_bytes"`
	Goroutines int64   `json:"goroutines"`
}

func serverPoints(series [][]metricSample, origin time.Time) []ServerPoint {
	var out []ServerPoint
	for ti, ss := range series {
		var prev *metricSample
		for i := range ss {
			m := &ss[i]
			if !m.ok() {
				continue
			}
			p := ServerPoint{T: round3(m.T.Sub(origin).Seconds()), Target: ti, RSSBytes: int64(m.RSS), Goroutines: int64(m.Goroutines)}
			if prev != nil && m.T.After(prev.T) && m.CPU >= prev.CPU {
				p.CPUPercent = round3((m.CPU - prev.CPU) / m.T.Sub(prev.T).Seconds() * 100)
			}
			out = append(out, p)
			prev = m
		}
	}
	return out
}
