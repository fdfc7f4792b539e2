// Command benchmd rewrites the results table of BENCHMARKS.md from loadtest
// JSON results, so `make bench` leaves the document and the measurements in
// agreement. Usage:
//
//	go run ./loadtest/benchmd -doc BENCHMARKS.md a=a.json b=b.json ...
//
// The table goes between the lines <!-- bench:start --> and
// <!-- bench:end -->, which are added at the end when missing.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"
)

const (
	startMark = "<!-- bench:start -->"
	endMark   = "<!-- bench:end -->"
)

// result is the part of loadtest's JSON the table shows.
type result struct {
	Passed           bool                            `json:"passed"`
	Failures         []string                        `json:"failures"`
	StartedAt        time.Time                       `json:"started_at"`
	UsersConnected   int                             `json:"users_connected"`
	Lost             int64                           `json:"lost"`
	Duplicated       int64                           `json:"duplicated"`
	Reordered        int64                           `json:"reordered"`
	DeliveriesPerSec float64                         `json:"deliveries_per_sec"`
	LatencyMS        struct{ P50, P99, Max float64 } `json:"latency_ms"`
	APILatencyMS     struct{ P95 float64 }           `json:"api_latency_ms"`
	APIRequests      int64                           `json:"api_requests"`
	Server           struct {
		CPUPercent      float64 `json:"cpu_percent"`
		RSSBytesPerConn float64 `json:"rss_bytes_per_conn"`
	} `json:"server"`
	Config struct {
		CommandLine string `json:"command_line"`
	} `json:"config"`
}

type row struct {
	name string
	r    result
}

func main() {
	doc := flag.String("doc", "BENCHMARKS.md", "markdown file to update")
	flag.Parse()
	var rows []row
	for _, arg := range flag.Args() {
		name, path, ok := strings.Cut(arg, "=")
		if !ok {
			fail(fmt.Errorf("argument %q: want NAME=FILE.json", arg))
		}
		b, err := os.ReadFile(path)
		if err != nil {
			fail(fmt.Errorf("read result: %w", err))
		}
		var r result
		if err := json.Unmarshal(b, &r); err != nil {
			fail(fmt.Errorf("parse %s: %w", path, err))
		}
		rows = append(rows, row{name, r})
	}
	old, err := os.ReadFile(*doc)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		fail(fmt.Errorf("read %s: %w", *doc, err))
	}
	if err := os.WriteFile(*doc, []byte(replaceTable(string(old), merged(string(old), rows))), 0o644); err != nil {
		fail(fmt.Errorf("write %s: %w", *doc, err))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "benchmd:", err)
	os.Exit(2)
}

// table renders one row per run with the columns issue 3 lists.
func table(rows []row) string {
	var b strings.Builder
	b.WriteString("| case | date | users | delivery p50 / p99 / max ms | deliveries/s | API p95 ms | server CPU % | RSS per conn | lost / dup / reordered | verdict | command |\n")
	b.WriteString("|---|---|---:|---|---:|---:|---:|---:|---|---|---|\n")
	for _, r := range rows {
		api := "–"
		if r.r.APIRequests > 0 {
			api = fmt.Sprintf("%.2f", r.r.APILatencyMS.P95)
		}
		verdict := "pass"
		if !r.r.Passed {
			verdict = "**fail**"
			if len(r.r.Failures) > 0 {
				// What failed, up to its detail.
				what, _, _ := strings.Cut(r.r.Failures[0], ":")
				verdict += " (" + what + ")"
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %.2f / %.2f / %.1f | %.0f | %s | %.0f | %.1f KiB | %d / %d / %d | %s | `%s` |\n",
			r.name, r.r.StartedAt.UTC().Format("2006-01-02"), r.r.UsersConnected,
			r.r.LatencyMS.P50, r.r.LatencyMS.P99, r.r.LatencyMS.Max, r.r.DeliveriesPerSec, api,
			r.r.Server.CPUPercent, r.r.Server.RSSBytesPerConn/1024,
			r.r.Lost, r.r.Duplicated, r.r.Reordered, verdict, r.r.Config.CommandLine)
	}
	return b.String()
}

// merged renders the table of rows plus the rows of doc's table for cases
// not among them, in case order: running one case must not erase the
// others' figures.
func merged(doc string, rows []row) string {
	fresh := strings.SplitAfter(table(rows), "\n")
	header := fresh[0] + fresh[1]
	byCase := map[string]string{}
	add := func(lines []string) {
		for _, l := range lines {
			cells := strings.Split(l, "|")
			if len(cells) < 3 || !strings.HasPrefix(l, "| (") {
				continue
			}
			byCase[strings.TrimSpace(cells[1])] = strings.TrimSuffix(l, "\n") + "\n"
		}
	}
	if i, j := strings.Index(doc, startMark), strings.Index(doc, endMark); i >= 0 && j > i {
		add(strings.SplitAfter(doc[i+len(startMark):j], "\n"))
	}
	add(fresh[2:])
	names := make([]string, 0, len(byCase))
	for n := range byCase {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(header)
	for _, n := range names {
		b.WriteString(byCase[n])
	}
	return b.String()
}

// replaceTable puts t between the markers of doc, appending them if absent.
func replaceTable(doc, t string) string {
	block := startMark + "\n" + t + endMark
	i := strings.Index(doc, startMark)
	j := strings.Index(doc, endMark)
	if i < 0 || j < i {
		if doc != "" && !strings.HasSuffix(doc, "\n") {
			doc += "\n"
		}
		return doc + "\n" + block + "\n"
	}
	return doc[:i] + block + doc[j+len(endMark):]
}
