package main

import (
	"math"
	"strings"
	"testing"
	"time"
)

const sampleMetrics = `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 42
go_memstats_heap_inuse_bytes 1.2345e+07
go_memstats_heap_alloc_bytes 1e+07
go_memstats_stack_inuse_bytes 65536
go_gc_duration_seconds{quantile="0.5"} 3e-05
process_cpu_seconds_total 12.5
process_resident_memory_bytes 5.24288e+07 1700000000000
chatgate_connections{instance="a"} 7
process_resident_memory_bytes 1
`

func TestParseMetrics(t *testing.T) {
	m, err := parseMetrics(strings.NewReader(sampleMetrics))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{mGoroutines: 42, mHeapInuse: 12345000, mHeapAlloc: 1e7, mStack: 65536, mCPU: 12.5, mRSS: 52428800}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	if len(m) != len(want) {
		t.Errorf("unexpected metrics: %v", m)
	}
	if _, err := parseMetrics(strings.NewReader("go_goroutines abc\n")); err == nil {
		t.Error("bad value must fail")
	}
}

func samplesAt(t0 time.Time, cpu ...float64) []metricSample {
	var out []metricSample
	for i, c := range cpu {
		out = append(out, metricSample{T: t0.Add(time.Duration(i) * time.Second), CPU: c, RSS: float64(100 + i), Goroutines: float64(10 + i)})
	}
	return out
}

func TestCPUPercent(t *testing.T) {
	t0 := time.Unix(100, 0)
	s := samplesAt(t0, 0, 0.5, 1.0, 1.5, 3.5)
	// From t0+1 to t0+3: 1 s of CPU over 2 s = 50%.
	if got := cpuPercent(s, t0.Add(time.Second), t0.Add(3*time.Second)); got != 50 {
		t.Fatalf("got %v, want 50", got)
	}
	// A window starting before the first sample uses the first sample.
	if got := cpuPercent(s, t0.Add(-time.Hour), t0.Add(4*time.Second)); got != 87.5 {
		t.Fatalf("got %v, want 87.5", got)
	}
	// A failed scrape in the middle is skipped.
	s[2].Err = "down"
	if got := cpuPercent(s, t0.Add(time.Second), t0.Add(3*time.Second)); got != 50 {
		t.Fatalf("with a gap: got %v, want 50", got)
	}
	// A restarted process (counter went back) counts from zero again.
	if got := cpuPercent(samplesAt(t0, 5, 5.5, 0.25, 0.5), t0, t0.Add(3*time.Second)); math.Abs(got-100.0/3) > 1e-9 {
		t.Fatalf("restart: got %v", got)
	}
	if got := cpuPercent(nil, t0, t0); got != 0 {
		t.Fatalf("no samples: got %v", got)
	}
}

func TestSummarizeServer(t *testing.T) {
	t0 := time.Unix(100, 0)
	series := [][]metricSample{samplesAt(t0, 0, 1, 2), samplesAt(t0, 0, 0.5, 1)}
	series[1] = append(series[1], metricSample{T: t0.Add(5 * time.Second), Err: "HTTP 502"})
	idle := []metricSample{{T: t0, RSS: 10 << 20, HeapAlloc: 4 << 20, StackInuse: 1 << 20}, {T: t0, RSS: 10 << 20, HeapAlloc: 4 << 20, StackInuse: 1 << 20}}
	conn := []metricSample{{T: t0, RSS: 20 << 20, HeapAlloc: 6 << 20, StackInuse: 2 << 20}, {T: t0, RSS: 20 << 20, HeapAlloc: 6 << 20, StackInuse: 2 << 20}}
	s := summarizeServer([]string{"a", "b"}, series, idle, conn, t0, t0.Add(2*time.Second), 2048)
	if s.CPUPercent != 150 {
		t.Fatalf("cpu %v, want 150 (100 + 50)", s.CPUPercent)
	}
	if s.RSSBytes != 102+102 || s.GoroutinesPeak != 24 {
		t.Fatalf("peaks: rss %d goroutines %d", s.RSSBytes, s.GoroutinesPeak)
	}
	if s.RSSBytesPerConn != 10240 || s.HeapBytesPerConn != 2048 || s.StackBytesPerConn != 1024 || s.MemBytesPerConn != 3072 {
		t.Fatalf("per conn: %+v", s)
	}
	if s.Targets[1].Errors != 1 || s.Targets[1].LastError != "HTTP 502" || s.Targets[1].Samples != 3 {
		t.Fatalf("target b: %+v", s.Targets[1])
	}
}

func TestServerPoints(t *testing.T) {
	t0 := time.Unix(100, 0)
	pts := serverPoints([][]metricSample{samplesAt(t0, 0, 0.25, 0.75)}, t0)
	if len(pts) != 3 || pts[0].CPUPercent != 0 || pts[1].CPUPercent != 25 || pts[2].CPUPercent != 50 || pts[2].T != 2 {
		t.Fatalf("%+v", pts)
	}
}
