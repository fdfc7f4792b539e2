package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"time"
)

// The leak check is a soak: cycles of connect, chat, disconnect; after each
// cycle the servers get a forced GC and one reading. Goroutines must come
// back to the baseline after every cycle. The heap must plateau: one run
// cannot tell a bounded cache that filled (the response cache's 64 MiB LRU)
// from a leak, many cycles can. See loadtest/README.md, "Leak check".
const (
	// Goroutines after each cycle: within 10% of the baseline, or +8 for a
	// tiny baseline (an idle server's few background goroutines).
	leakRatio      = 0.10
	leakGoroutines = 8
	leakPollPeriod = time.Second

	// The heap plateau is judged over the last half of the cycles, at
	// least soakMinCycles of them; fewer cycles in all are not judged.
	soakMinCycles = 4
	// Bound on the heap's rise over that window: max(2 MiB, 5% of the
	// window's first-half trough, so that a spike does not widen it).
	soakHeapFloor = 2 << 20
	soakHeapRatio = 0.05
)

// soakRule is the heap verdict in words, for the report.
var soakRule = fmt.Sprintf("heap after each cycle's forced GC, over the last half of the cycles (at least %d; fewer cycles are not judged): "+
	"the peak of the window's second half may exceed the peak of its first half, and its trough the first half's trough, "+
	"by at most max(%s, %.0f%% of the first-half trough); goroutines after every cycle ≤ max(baseline × %.2f, baseline + %d) + -goroutine-slack",
	soakMinCycles, fmtBytes(soakHeapFloor), soakHeapRatio*100, 1+leakRatio, leakGoroutines)

// LeakCheck is the soak's verdict for all targets.
type LeakCheck struct {
	Mode    string  `json:"mode"`
	Checked bool    `json:"checked"`
	Passed  bool    `json:"passed"`
	Cycles  int     `json:"cycles"`
	Judged  bool    `json:"heap_judged"` // enough cycles to judge a heap plateau
	Rule    string  `json:"rule,omitempty"`
	Waited  float64 `json:"waited_s"` // total time spent waiting for servers to settle
	// Targets: one per -metrics URL.
	Targets []LeakTarget `json:"targets,omitempty"`
}

// LeakTarget is one server over the soak.
type LeakTarget struct {
	URL string `json:"url"`
	// Before: the baseline (forced GC, nobody connected); after: the last
	// cycle's reading. Information: a single run's growth is not a verdict.
	GoroutinesBefore float64 `json:"goroutines_before"`
	GoroutinesAfter  float64 `json:"goroutines_after"`
	HeapBefore       float64 `json:"heap_before"` // go_memstats_heap_alloc_bytes
	HeapAfter        float64 `json:"heap_after"`
	// Points: the baseline (cycle 0), then one reading per cycle.
	Points  []SoakPoint `json:"points,omitempty"`
	Plateau Plateau     `json:"plateau"`
	Passed  bool        `json:"passed"`
	Reason  string      `json:"reason,omitempty"`
}

// SoakPoint is one target's reading after a cycle's forced GC.
type SoakPoint struct {
	Cycle      int     `json:"cycle"` // 0: the baseline, before the first cycle
	T          float64 `json:"t"`     // seconds since the first cycle's origin
	HeapAlloc  float64 `json:"heap_alloc_bytes"`
	Goroutines float64 `json:"goroutines"`
	RSS        float64 `json:"rss_bytes"`
	Waited     float64 `json:"waited_s"` // how long the goroutines took to come back
	Error      string  `json:"error,omitempty"`
}

// Plateau is the heap verdict over the last cycles.
type Plateau struct {
	Judged        bool    `json:"judged"`
	Window        int     `json:"window"` // cycles judged (the last ones)
	Bound         float64 `json:"bound_bytes"`
	PeakRise      float64 `json:"peak_rise_bytes"`   // max(second half) − max(first half)
	TroughRise    float64 `json:"trough_rise_bytes"` // min(second half) − min(first half)
	SlopePerCycle float64 `json:"slope_bytes_per_cycle"`
	OK            bool    `json:"ok"`
	Reason        string  `json:"reason,omitempty"`
}

// heapOf is the heap figure the soak compares: the allocated heap (live
// objects after the forced GC). Heap "in use" counts whole spans, which stay
// in use while any object in them lives, so it keeps fragmentation that is
// not a leak.
func heapOf(s metricSample) float64 {
	if s.HeapAlloc > 0 {
		return s.HeapAlloc
	}
	return s.HeapInuse
}

// goroutineLimit is the most goroutines a server may keep after a cycle:
// slack is what a bounded pool may hold on top (-goroutine-slack).
func goroutineLimit(base, slack float64) float64 {
	return max(base*(1+leakRatio), base+leakGoroutines) + slack
}

// slackOf is target i's -goroutine-slack: one value for all, or one each.
func slackOf(slack []int, i int) float64 {
	switch {
	case len(slack) == 0:
		return 0
	case len(slack) == 1:
		return float64(slack[0])
	case i < len(slack):
		return float64(slack[i])
	}
	return 0
}

// plateauOf judges one target's per-cycle heaps (the baseline excluded).
// The window is the last half of the cycles, at least soakMinCycles; its
// halves' peaks and troughs are compared, which a bounded sawtooth (a pool
// or cache that fills and is emptied) passes and steady growth fails. The
// least-squares slope over the window is reported, not judged: over a
// window that is not a whole number of a sawtooth's periods it is steep.
func plateauOf(heaps []float64) Plateau {
	return plateauWith(heaps, soakHeapFloor, soakHeapRatio, fmtBytes, "heap")
}

// plateauWith is plateauOf for any per-cycle series: the bound is
// max(floor, ratio × the window's first-half trough); show formats a value.
func plateauWith(heaps []float64, floor, ratio float64, show func(float64) string, what string) Plateau {
	n := len(heaps)
	if n < soakMinCycles {
		return Plateau{Reason: fmt.Sprintf("%d cycle(s): a plateau needs at least %d (-soak-cycles or -soak)", n, soakMinCycles)}
	}
	k := max(soakMinCycles, n-n/2)
	w := heaps[n-k:]
	first, second := w[:k/2], w[k/2:]
	p := Plateau{Judged: true, Window: k}
	maxF, minF := minMax(first)
	maxS, minS := minMax(second)
	p.Bound = max(floor, ratio*minF)
	p.PeakRise, p.TroughRise = maxS-maxF, minS-minF
	p.SlopePerCycle = round3(lsSlope(w))
	switch {
	case p.PeakRise > p.Bound:
		p.Reason = fmt.Sprintf("%s peak rose %s over the last %d cycles (%s → %s; bound %s)", what, show(p.PeakRise), k, show(maxF), show(maxS), show(p.Bound))
	case p.TroughRise > p.Bound:
		p.Reason = fmt.Sprintf("%s trough rose %s over the last %d cycles (%s → %s; bound %s)", what, show(p.TroughRise), k, show(minF), show(minS), show(p.Bound))
	default:
		p.OK = true
	}
	return p
}

// minMax returns the largest and the smallest value of a non-empty slice.
func minMax(v []float64) (hi, lo float64) {
	hi, lo = math.Inf(-1), math.Inf(1)
	for _, x := range v {
		hi, lo = max(hi, x), min(lo, x)
	}
	return hi, lo
}

// lsSlope is the least-squares slope of v against its index.
func lsSlope(v []float64) float64 {
	n := float64(len(v))
	if n < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for i, y := range v {
		x := float64(i)
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	return (n*sxy - sx*sy) / (n*sxx - sx*sx)
}

// judgeSoak builds the verdict from the baseline and each cycle's settled
// samples (cycles[c][target]).
func judgeSoak(mode string, urls []string, slack []int, baseline []metricSample, cycles []cycleReading) LeakCheck {
	lc := LeakCheck{Mode: mode, Cycles: len(cycles), Rule: soakRule}
	if mode == "off" {
		return lc
	}
	lc.Checked, lc.Passed, lc.Judged = true, true, len(cycles) >= soakMinCycles
	for _, c := range cycles {
		lc.Waited += c.waited
	}
	lc.Waited = round3(lc.Waited)
	for i, url := range urls {
		base := baseline[i]
		t := LeakTarget{URL: url, GoroutinesBefore: base.Goroutines, HeapBefore: heapOf(base), Passed: true}
		t.Points = append(t.Points, soakPoint(0, base, 0, time.Time{}))
		var heaps []float64
		var reasons []string
		if !base.ok() {
			reasons = append(reasons, "no usable baseline sample: "+base.Err)
		}
		limit := goroutineLimit(base.Goroutines, slackOf(slack, i))
		bad := 0
		for ci, c := range cycles {
			s := c.samples[i]
			t.Points = append(t.Points, soakPoint(ci+1, s, c.waited, c.origin))
			if !s.ok() {
				reasons = append(reasons, fmt.Sprintf("cycle %d: no usable sample (%s)", ci+1, s.Err))
				continue
			}
			heaps = append(heaps, heapOf(s))
			t.GoroutinesAfter, t.HeapAfter = s.Goroutines, heapOf(s)
			if base.ok() && s.Goroutines > limit {
				if bad == 0 {
					reasons = append(reasons, fmt.Sprintf("cycle %d: goroutines %.0f → %.0f (limit %.0f)", ci+1, base.Goroutines, s.Goroutines, limit))
				}
				bad++
			}
		}
		if bad > 1 {
			reasons = append(reasons, fmt.Sprintf("goroutines above the limit after %d of %d cycles", bad, len(cycles)))
		}
		if len(heaps) == len(cycles) {
			t.Plateau = plateauOf(heaps)
			if t.Plateau.Judged && !t.Plateau.OK {
				reasons = append(reasons, t.Plateau.Reason)
			}
		}
		if len(reasons) > 0 {
			t.Passed, t.Reason = false, joinReasons(reasons)
		}
		lc.Passed = lc.Passed && t.Passed
		lc.Targets = append(lc.Targets, t)
	}
	return lc
}

func joinReasons(rs []string) string {
	out := rs[0]
	for _, r := range rs[1:] {
		out += "; " + r
	}
	return out
}

func soakPoint(cycle int, s metricSample, waited float64, origin time.Time) SoakPoint {
	p := SoakPoint{Cycle: cycle, HeapAlloc: heapOf(s), Goroutines: s.Goroutines, RSS: s.RSS, Waited: round3(waited), Error: s.Err}
	if !origin.IsZero() && !s.T.IsZero() {
		p.T = round3(s.T.Sub(origin).Seconds())
	}
	return p
}

// cycleReading is every target's reading after one cycle.
type cycleReading struct {
	samples []metricSample
	waited  float64
	origin  time.Time // the soak's origin, for SoakPoint.T
}

// settleServers polls the targets after a cycle's clients left, forcing a GC
// before each look (an idle Go server may not collect for two minutes),
// until every target's goroutines are back within the limit or the timeout
// passes; the last look is the cycle's reading.
func settleServers(ctx context.Context, mon *monitor, gc *http.Client, admins []string, slack []int, baseline []metricSample, timeout time.Duration) ([]metricSample, float64) {
	start := time.Now()
	for {
		forceGC(ctx, gc, admins)
		now := mon.snapshot(ctx)
		back := true
		for i, s := range now {
			if !s.ok() || (baseline[i].ok() && s.Goroutines > goroutineLimit(baseline[i].Goroutines, slackOf(slack, i))) {
				back = false
			}
		}
		if back || time.Since(start) >= timeout || !sleepCtx(ctx, leakPollPeriod) {
			return now, time.Since(start).Seconds()
		}
	}
}
