package main

import (
	"strings"
	"testing"
	"time"
)

func TestTableAndReplace(t *testing.T) {
	var r result
	r.Passed = true
	r.StartedAt = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	r.UsersConnected = 1000
	r.LatencyMS.P50, r.LatencyMS.P99, r.LatencyMS.Max = 1.5, 4.25, 12
	r.DeliveriesPerSec = 10000
	r.Server.CPUPercent = 80
	r.Server.RSSBytesPerConn = 9216
	r.Config.CommandLine = "go run ./loadtest -users 1000"
	bad := r
	bad.Passed, bad.Lost, bad.Failures = false, 3, []string{"lost: 3 messages never arrived"}
	tab := table([]row{{"(a)", r}, {"(b)", bad}})
	for _, want := range []string{"| (a) | 2026-11-26 | 1000 | 1.50 / 4.25 / 12.0 | 10000 | – | 80 | 9.0 KiB | 0 / 0 / 0 | pass |", "| 3 / 0 / 0 | **fail** (lost) |", "`go run ./loadtest -users 1000`"} {
		if !strings.Contains(tab, want) {
			t.Errorf("table lacks %q:\n%s", want, tab)
		}
	}
	doc := "# Benchmarks\n\nintro\n"
	once := replaceTable(doc, tab)
	if !strings.HasPrefix(once, doc) || !strings.Contains(once, startMark+"\n"+tab+endMark) {
		t.Fatalf("append: %s", once)
	}
	twice := replaceTable(once+"\nafter\n", "NEW\n")
	if strings.Contains(twice, "(a)") || !strings.Contains(twice, startMark+"\nNEW\n"+endMark) || !strings.HasSuffix(twice, "\nafter\n") {
		t.Fatalf("replace: %s", twice)
	}
}

// TestMergedKeepsOtherCases: rerunning case (d) alone replaces (d)'s row
// and keeps (a)'s and (b)'s, in case order.
func TestMergedKeepsOtherCases(t *testing.T) {
	var r result
	r.Passed = true
	r.StartedAt = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	r.Config.CommandLine = "new d"
	old := table([]row{{"(a)", result{}}, {"(b)", result{}}, {"(d)", result{}}})
	old = strings.Replace(old, "| (a) |", "| (a) | kept a", 1)
	doc := replaceTable("# Benchmarks\n", old)
	got := merged(doc, []row{{"(d)", r}})
	a, b, d := strings.Index(got, "| (a) | kept a"), strings.Index(got, "| (b) |"), strings.Index(got, "`new d`")
	if a < 0 || b < a || d < b || strings.Count(got, "| (d) |") != 1 || !strings.HasPrefix(got, "| case |") {
		t.Fatalf("merged:\n%s", got)
	}
}
