package main

import (
	"encoding/xml"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHTMLReportIsSelfContained(t *testing.T) {
	p := goodPartial()
	ri := testRunInfo()
	ri.cfg.CommandLine = `go run ./loadtest -url http://127.0.0.1:8080 <script>`
	ri.kills = []KillEvent{{KillSpec: KillSpec{Name: "SIGTERM", PID: 7}, AtS: 1.5}}
	ri.points = []ServerPoint{{T: 0.5, CPUPercent: 10, RSSBytes: 50 << 20}, {T: 1.5, CPUPercent: 30, RSSBytes: 60 << 20}}
	r := buildResult(p, ri)
	b, err := renderHTML(r)
	if err != nil {
		t.Fatal(err)
	}
	html := string(b)
	if n := strings.Count(html, "<svg"); n != 6 {
		t.Errorf("want 6 inline SVG charts, got %d", n)
	}
	// Nothing may be fetched: no scripts, stylesheets, images or fonts.
	for _, banned := range []string{"<script", "<link", "<img", "<iframe", "src=", "href=", "@import", "url("} {
		if strings.Contains(strings.ToLower(html), banned) {
			t.Errorf("report contains %q", banned)
		}
	}
	for _, want := range []string{"PASS", "Delivery latency per second", "Server CPU", "Server resident memory",
		"Connections", "Throughput", "SIGTERM", "&lt;script&gt;", "GET /api/rooms/{id}"} {
		if !strings.Contains(html, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	path := filepath.Join(t.TempDir(), "r.html")
	if err := writeHTML(path, r); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Size() != int64(len(b)) {
		t.Fatalf("written report: %v", err)
	}
}

func TestChartSVG(t *testing.T) {
	c := chart{Title: "t <x>", YUnit: "ms", Band: &chartBand{1, 2}, Marks: []chartMark{{X: 1.5, Label: "SIGKILL"}},
		Series: []chartSeries{{Name: "a", X: []float64{0, 1, 2, 3}, Y: []float64{1, math.NaN(), 3, 4}}}}
	s := c.svg()
	if !strings.HasPrefix(s, "<svg") || !strings.HasSuffix(s, "</svg>") || !strings.Contains(s, "t &lt;x&gt;") {
		t.Fatalf("svg: %s", s)
	}
	// The NaN breaks the line: two "M" commands in the path.
	start := strings.Index(s, `<path d="`)
	d := s[start+9 : start+9+strings.Index(s[start+9:], `"`)]
	if strings.Count(d, "M") != 2 || strings.Count(d, "L") != 1 {
		t.Fatalf("path %q", d)
	}
	if !strings.Contains(s, "SIGKILL") || !strings.Contains(s, "<rect") {
		t.Fatal("band and marks missing")
	}
	if empty := (chart{Title: "e"}).svg(); !strings.Contains(empty, "no data") {
		t.Fatalf("empty chart: %s", empty)
	}
}

func TestNiceCeilAndTicks(t *testing.T) {
	for in, want := range map[float64]float64{0: 1, 0.7: 1, 1: 1, 1.2: 2, 3: 5, 7: 10, 42: 50, 1500: 2000} {
		if got := niceCeil(in); got != want {
			t.Errorf("niceCeil(%v) = %v, want %v", in, got, want)
		}
	}
	ticks := xTicks(0, 30, 8)
	if len(ticks) < 4 || ticks[0] != 0 || ticks[len(ticks)-1] > 30 {
		t.Fatalf("ticks %v", ticks)
	}
}

// Every chart must be well-formed XML: browsers forgive, viewers and
// converters do not.
func TestChartsAreWellFormedXML(t *testing.T) {
	ri := testRunInfo()
	ri.points = []ServerPoint{{T: 0.5, CPUPercent: 10, RSSBytes: 50 << 20}}
	for _, c := range reportCharts(buildResult(goodPartial(), ri)) {
		dec := xml.NewDecoder(strings.NewReader(c.svg()))
		for {
			tok, err := dec.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", c.Title, err)
			}
			// encoding/xml accepts duplicate attributes; XML does not.
			if se, ok := tok.(xml.StartElement); ok {
				seen := map[string]bool{}
				for _, a := range se.Attr {
					if seen[a.Name.Local] {
						t.Fatalf("%s: <%s> repeats attribute %s", c.Title, se.Name.Local, a.Name.Local)
					}
					seen[a.Name.Local] = true
				}
			}
		}
	}
}

// With -mix the HTML report and the text summary show latency per kind.
func TestReportsShowKinds(t *testing.T) {
	p := goodPartial()
	p.LatencyByKind = map[string]Hist{"message": histOf(1000), "delete": histOf(2000, 4000)}
	p.Ops = map[string]int64{"send": 3, "delete": 2}
	ri := testRunInfo()
	ri.cfg.Mix = Mix{Send: 80, Delete: 20}
	r := buildResult(p, ri)
	b, err := renderHTML(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Latency by kind of entry (-mix send=80,delete=20)", "<td>delete</td><td>2</td>", "<td>message</td><td>1</td>", "delete 2 ·"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	var sb strings.Builder
	printSummary(&sb, r)
	for _, want := range []string{"mix               send=80,delete=20: send 3", "delete ms", "(2 delivered)"} {
		if !strings.Contains(sb.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, sb.String())
		}
	}
	// Without a mix neither shows.
	ri.cfg.Mix = Mix{Send: 1}
	r = buildResult(p, ri)
	b, _ = renderHTML(r)
	sb.Reset()
	printSummary(&sb, r)
	if strings.Contains(string(b), "Latency by kind") || strings.Contains(sb.String(), "mix ") {
		t.Error("per-kind latency shown without -mix")
	}
}
