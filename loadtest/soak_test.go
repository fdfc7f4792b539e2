package main

import (
	"math"
	"strings"
	"testing"
	"time"
)

const mib = 1 << 20

// heapSeries builds n heaps from f(cycle), cycles counted from 1.
func heapSeries(n int, f func(c int) float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = f(i + 1)
	}
	return out
}

func TestPlateauVerdict(t *testing.T) {
	cases := []struct {
		name  string
		heaps []float64
		ok    bool
	}{
		{"flat", heapSeries(16, func(int) float64 { return 20 * mib }), true},
		{"flat with noise", heapSeries(16, func(c int) float64 { return 20*mib + float64(c%3)*300*1024 }), true},
		// A cache filling in the first cycles, then at its bound: case
		// (d)'s response cache.
		{"fills then bounded", heapSeries(16, func(c int) float64 { return 10*mib + min(float64(c), 5)*14*mib }), true},
		// A pool or cache that fills and is emptied: amplitude 12 MiB,
		// far above the bound, period 4 cycles; every phase.
		{"sawtooth", heapSeries(16, func(c int) float64 { return 20*mib + float64(c%4)*4*mib }), true},
		{"sawtooth shifted", heapSeries(17, func(c int) float64 { return 20*mib + float64((c+1)%4)*4*mib }), true},
		{"sawtooth period 3", heapSeries(20, func(c int) float64 { return 20*mib + float64(c%3)*6*mib }), true},
		// Steady growth fails, even slow growth over enough cycles.
		{"linear 1 MiB/cycle", heapSeries(10, func(c int) float64 { return 20*mib + float64(c)*mib }), false},
		{"linear 100 KiB/cycle, 100 cycles", heapSeries(100, func(c int) float64 { return 20*mib + float64(c)*100*1024 }), false},
		// Growth hidden under an early spike: the troughs rise.
		{"growth under a spike", heapSeries(16, func(c int) float64 {
			if c == 9 {
				return 80 * mib
			}
			return 20*mib + float64(c)*mib
		}), false},
		// Sawtooth on top of growth.
		{"sawtooth on growth", heapSeries(24, func(c int) float64 { return 20*mib + float64(c%4)*4*mib + float64(c)*mib/2 }), false},
		// 5% of a large heap is the bound, not 2 MiB.
		{"large heap, 4% drift", heapSeries(8, func(c int) float64 { return 500*mib + float64(c)*4*mib }), true},
	}
	for _, c := range cases {
		p := plateauOf(c.heaps)
		if !p.Judged {
			t.Errorf("%s: not judged: %s", c.name, p.Reason)
			continue
		}
		if p.OK != c.ok {
			t.Errorf("%s: ok=%v (%s; peak %+.2f MiB, trough %+.2f MiB, bound %.2f MiB), want %v",
				c.name, p.OK, p.Reason, p.PeakRise/mib, p.TroughRise/mib, p.Bound/mib, c.ok)
		}
		if !c.ok && p.Reason == "" {
			t.Errorf("%s: a failure needs a reason", c.name)
		}
	}
}

func TestPlateauWindow(t *testing.T) {
	// The last half, at least soakMinCycles.
	for _, c := range []struct{ n, window int }{{4, 4}, {5, 4}, {8, 4}, {9, 5}, {16, 8}, {101, 51}} {
		p := plateauOf(heapSeries(c.n, func(int) float64 { return mib }))
		if p.Window != c.window {
			t.Errorf("%d cycles: window %d, want %d", c.n, p.Window, c.window)
		}
	}
	// Early growth outside the window does not count.
	p := plateauOf(heapSeries(12, func(c int) float64 { return float64(min(c, 6)) * 10 * mib }))
	if !p.OK {
		t.Errorf("growth before the window: %s", p.Reason)
	}
	// Fewer cycles are not judged, and say why.
	p = plateauOf([]float64{mib, 50 * mib, 90 * mib})
	if p.Judged || !strings.Contains(p.Reason, "at least 4") {
		t.Errorf("3 cycles: %+v", p)
	}
	if s := lsSlope([]float64{1, 3, 5, 7}); math.Abs(s-2) > 1e-9 {
		t.Errorf("slope %v", s)
	}
}

func TestJudgeSoak(t *testing.T) {
	t0 := time.Unix(1000, 0)
	sample := func(g, heap float64) metricSample {
		return metricSample{T: t0, Goroutines: g, HeapAlloc: heap, RSS: 3 * heap}
	}
	base := []metricSample{sample(40, 10*mib)}
	reading := func(g, heap float64) cycleReading {
		return cycleReading{samples: []metricSample{sample(g, heap)}, waited: 1, origin: t0}
	}
	urls := []string{"http://gw/metrics"}

	// One run: the heap growth of case (d) is not judged, goroutines are.
	lc := judgeSoak("fail", urls, nil, base, []cycleReading{reading(42, 79*mib)})
	if !lc.Passed || lc.Judged || lc.Targets[0].HeapAfter != 79*mib || len(lc.Targets[0].Points) != 2 {
		t.Fatalf("one cycle: %+v", lc)
	}
	lc = judgeSoak("fail", urls, nil, base, []cycleReading{reading(60, 10*mib)})
	if lc.Passed || !strings.Contains(lc.Targets[0].Reason, "goroutines 40 → 60") {
		t.Fatalf("goroutines must fail: %+v", lc)
	}

	// A soak with a bounded cache passes; a leak fails.
	var bounded, leak []cycleReading
	for c := 1; c <= 10; c++ {
		bounded = append(bounded, reading(41, 10*mib+min(float64(c), 3)*23*mib))
		leak = append(leak, reading(41, 10*mib+float64(c)*3*mib))
	}
	if lc := judgeSoak("fail", urls, nil, base, bounded); !lc.Passed || !lc.Judged || lc.Cycles != 10 {
		t.Fatalf("bounded: %+v", lc)
	}
	lc = judgeSoak("fail", urls, nil, base, leak)
	if lc.Passed || !strings.Contains(lc.Targets[0].Reason, "heap peak rose") {
		t.Fatalf("leak: %+v", lc.Targets[0])
	}

	// A goroutine leak that persists is reported with its count.
	var gl []cycleReading
	for c := 1; c <= 6; c++ {
		gl = append(gl, reading(40+float64(c)*5, 10*mib))
	}
	lc = judgeSoak("fail", urls, nil, base, gl)
	if lc.Passed || !strings.Contains(lc.Targets[0].Reason, "after 5 of 6 cycles") {
		t.Fatalf("goroutine leak: %q", lc.Targets[0].Reason)
	}

	// A proxy's idle upstream pool: bounded, allowed by -goroutine-slack
	// for its target only.
	two := []string{"http://lb/metrics", "http://gw/metrics"}
	pool := []cycleReading{{samples: []metricSample{sample(400, 10*mib), sample(160, 10*mib)}}}
	lc = judgeSoak("fail", two, []int{512, 128}, []metricSample{sample(40, 10*mib), sample(40, 10*mib)}, pool)
	if !lc.Passed {
		t.Fatalf("pool within slack: %+v", lc.Targets)
	}
	lc = judgeSoak("fail", two, []int{512, 0}, []metricSample{sample(40, 10*mib), sample(40, 10*mib)}, pool)
	if lc.Passed || lc.Targets[0].Reason != "" || !strings.Contains(lc.Targets[1].Reason, "limit 48") {
		t.Fatalf("slack for the LB only: %+v", lc.Targets)
	}

	// A missing sample fails, and off checks nothing.
	lc = judgeSoak("fail", urls, nil, base, []cycleReading{{samples: []metricSample{{Err: "down"}}}})
	if lc.Passed {
		t.Fatal("no sample must fail")
	}
	if lc := judgeSoak("off", urls, nil, base, leak); lc.Checked || !strings.Contains(lc.Rule, "max(2.0 MiB, 5%") {
		t.Fatalf("off: %+v", lc)
	}
}

func TestShiftTimelineAndMergeCycles(t *testing.T) {
	a, b := goodPartial(), goodPartial()
	shiftTimeline(b, 10)
	if len(b.Timeline.Connected) != 14 || b.Timeline.Connected[10] != 4 {
		t.Fatalf("shifted: %v", b.Timeline.Connected)
	}
	for s := range b.Timeline.Latency {
		if s < 10 {
			t.Fatalf("latency second %d not shifted", s)
		}
	}
	b.UsersConnected = 3
	m := mergeCycles([]*Partial{a, b})
	if m.UsersPlanned != a.UsersPlanned || m.UsersConnected != 3 || m.Sent != a.Sent*2 {
		t.Fatalf("merged: planned %d connected %d sent %d", m.UsersPlanned, m.UsersConnected, m.Sent)
	}
}

func TestSoakReport(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var rs []cycleReading
	for c := 1; c <= 6; c++ {
		rs = append(rs, cycleReading{samples: []metricSample{{T: t0, Goroutines: 40, HeapAlloc: 20 * mib, RSS: 60 * mib}}, origin: t0})
	}
	ri := testRunInfo()
	ri.leak = judgeSoak("fail", []string{"http://gw/metrics"}, nil, []metricSample{{T: t0, Goroutines: 40, HeapAlloc: 10 * mib}}, rs)
	r := buildResult(goodPartial(), ri)
	if !r.Passed {
		t.Fatalf("%v", r.Failures)
	}
	b, err := renderHTML(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Heap after each cycle", "Goroutines after each cycle", ">cycle<", "6 cycle(s), passed"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	var sb strings.Builder
	printSummary(&sb, r)
	if !strings.Contains(sb.String(), "heap plateau over the last 4 cycles") || !strings.Contains(sb.String(), "× 6 cycles") {
		t.Errorf("summary:\n%s", sb.String())
	}
}
