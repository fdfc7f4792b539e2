// Command peersmd prints the table of `make bench-peers` (issue 14):
// Chatgate against the Socket.IO peer, scenario by scenario, from loadtest
// JSON results, and writes it into BENCHMARKS.md's "Peers" section.
//
//	go run ./loadtest/peersmd -dir .bench-peers -cases "a b c" [-doc BENCHMARKS.md]
//
// It reads DIR/<case>-chatgate.json and DIR/<case>-socketio.json, and the
// load average each run started under from DIR/<case>-<server>.load. The
// section runs from its heading to the next "## " heading; it is appended
// when missing.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const heading = "## Peers (`make bench-peers`)"

// method is the section's fixed explanation; the tables follow it.
const method = `Chatgate against a plain Socket.IO 4.8 chat server (issue 14). Each
scenario runs the load generator against a private gateway from ./caddy
and the shipped Caddyfile (Postgres is the system of record: every message
is committed before its ack), then right away against
loadtest/peers/socketio (Socket.IO from its package-lock, WebSocket
transport only, a seq per room in memory, no persistence) with
` + "`-protocol socketio`" + `. Same open-loop schedule, same 100-byte bodies,
same latency (send → deliver from the intended send time, HDR, every
delivery), same checks (every send acked, every member gets every message
once and in seq order). Server CPU is read from /proc every second (utime
+ stime) for process trees: the gateway plus the Postgres postmaster, its
background processes (WAL writer, checkpointer, autovacuum…) and the
backends of the gateway's own database (other databases' backends on a
shared cluster are left out), or the node process. It is taken over the
window deliveries/s uses (send start to the last delivery) and divided by
deliveries/s: CPU µs per delivered message. The generator shares the two
cores (its CPU is shown); "load avg" is /proc/loadavg just before each run.`

// The targets of issue 14: Chatgate's p99 and CPU per delivered message at
// most this many times the peer's.
const limit = 1.5

type result struct {
	Passed           bool      `json:"passed"`
	Failures         []string  `json:"failures"`
	StartedAt        time.Time `json:"started_at"`
	Users            int       `json:"users"`
	UsersConnected   int       `json:"users_connected"`
	Sent             int64     `json:"sent"`
	Acked            int64     `json:"acked"`
	Delivered        int64     `json:"delivered"`
	Lost             int64     `json:"lost"`
	Duplicated       int64     `json:"duplicated"`
	Reordered        int64     `json:"reordered"`
	DeliveriesPerSec float64   `json:"deliveries_per_sec"`
	LatencyMS        struct {
		P50, P95, P99, Max float64
	} `json:"latency_ms"`
	AckMS struct {
		P99 float64
	} `json:"ack_ms"`
	Server struct {
		CPUDeliveringPercent float64 `json:"cpu_delivering_percent"`
		CPUMicrosPerDelivery float64 `json:"cpu_us_per_delivery"`
	} `json:"server"`
	GeneratorCPUPercent float64 `json:"generator_cpu_percent"`
	Config              struct {
		Users       int     `json:"users"`
		Rooms       int     `json:"rooms"`
		Rate        float64 `json:"rate"`
		Duration    int64   `json:"duration"`
		CommandLine string  `json:"command_line"`
	} `json:"config"`
}

type run struct {
	r    *result
	load string
	err  error
}

func main() {
	dir := flag.String("dir", ".bench-peers", "directory of the results")
	cases := flag.String("cases", "a b c", "scenarios, in order")
	doc := flag.String("doc", "", "markdown file whose Peers section to rewrite (empty: print only)")
	command := flag.String("command", "make bench-peers", "the command to quote")
	note := flag.String("note", "", "a paragraph to add under the tables")
	flag.Parse()

	var b strings.Builder
	b.WriteString("| case | server | users / rooms of / sends/s | delivery p50 / p95 / p99 ms | ack p99 ms | deliveries/s | server CPU % | CPU µs per delivery | generator CPU % | load avg | lost / dup / reordered / unacked | verdict |\n")
	b.WriteString("|---|---|---|---|---:|---:|---:|---:|---:|---|---|---|\n")
	var ratios strings.Builder
	fmt.Fprintf(&ratios, "| case | p99 Chatgate / Socket.IO | CPU per delivery Chatgate / Socket.IO | target (both ≤ %.1f) |\n", limit)
	ratios.WriteString("|---|---:|---:|---|\n")
	var dates, commands []string
	for _, c := range strings.Fields(*cases) {
		runs := map[string]run{}
		for _, srv := range []string{"chatgate", "socketio"} {
			r, err := load(filepath.Join(*dir, c+"-"+srv+".json"))
			la, _ := os.ReadFile(filepath.Join(*dir, c+"-"+srv+".load"))
			runs[srv] = run{r: r, load: strings.TrimSpace(string(la)), err: err}
			name := map[string]string{"chatgate": "Chatgate (gateway + Postgres)", "socketio": "Socket.IO 4.8 (node)"}[srv]
			if err != nil {
				fmt.Fprintf(&b, "| (%s) | %s | – | not run | | | | | | | | |\n", c, name)
				continue
			}
			if d := r.StartedAt.UTC().Format("2006-01-02 15:04"); len(dates) == 0 || dates[len(dates)-1] != d[:10] {
				dates = append(dates, d[:10])
			}
			commands = append(commands, fmt.Sprintf("(%s) `%s`", c, r.Config.CommandLine))
			verdict := "pass"
			if !r.Passed {
				verdict = "**fail**: " + strings.Join(r.Failures, "; ")
			}
			perRoom := 0
			if r.Config.Rooms > 0 {
				perRoom = r.Config.Users / r.Config.Rooms
			}
			fmt.Fprintf(&b, "| (%s) | %s | %d / %d / %g | %.2f / %.2f / %.2f | %.2f | %.0f | %.1f | %.1f | %.0f | %s | %d / %d / %d / %d | %s |\n",
				c, name, r.UsersConnected, perRoom, r.Config.Rate,
				r.LatencyMS.P50, r.LatencyMS.P95, r.LatencyMS.P99, r.AckMS.P99, r.DeliveriesPerSec,
				r.Server.CPUDeliveringPercent, r.Server.CPUMicrosPerDelivery, r.GeneratorCPUPercent, orDash(runs[srv].load),
				r.Lost, r.Duplicated, r.Reordered, r.Sent-r.Acked, verdict)
		}
		cg, sio := runs["chatgate"], runs["socketio"]
		if cg.err != nil || sio.err != nil {
			fmt.Fprintf(&ratios, "| (%s) | – | – | not measured |\n", c)
			continue
		}
		p99 := ratio(cg.r.LatencyMS.P99, sio.r.LatencyMS.P99)
		cpu := ratio(cg.r.Server.CPUMicrosPerDelivery, sio.r.Server.CPUMicrosPerDelivery)
		verdict := "met"
		var missed []string
		if !(p99 <= limit) {
			missed = append(missed, "p99")
		}
		if !(cpu <= limit) {
			missed = append(missed, "CPU")
		}
		if len(missed) > 0 {
			verdict = "**missed** (" + strings.Join(missed, ", ") + ")"
		}
		fmt.Fprintf(&ratios, "| (%s) | %.2f | %.2f | %s |\n", c, p99, cpu, verdict)
	}
	section := fmt.Sprintf("%s\n\n%s\n\n`%s`, %s.\n\n%s\n%s", heading, method, *command, strings.Join(dates, ", "), b.String(), ratios.String())
	if len(commands) > 0 {
		section += "\nThe generator's command lines (the script builds it as .bench-peers/loadtest):\n\n"
		for _, c := range commands {
			section += "- " + c + "\n"
		}
	}
	if *note != "" {
		section += "\n" + strings.TrimSpace(*note) + "\n"
	}
	fmt.Print(section)
	if *doc == "" {
		return
	}
	old, err := os.ReadFile(*doc)
	if err != nil && !os.IsNotExist(err) {
		fmt.Fprintln(os.Stderr, "peersmd:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*doc, []byte(replaceSection(string(old), section)), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "peersmd:", err)
		os.Exit(1)
	}
}

func load(path string) (*result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r := &result{}
	if err := json.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

// replaceSection swaps the Peers section of doc (its heading up to the next
// "## " heading) for section, or appends it.
func replaceSection(doc, section string) string {
	section = strings.TrimRight(section, "\n") + "\n"
	i := strings.Index(doc, heading+"\n")
	if i < 0 {
		if doc != "" && !strings.HasSuffix(doc, "\n") {
			doc += "\n"
		}
		return doc + "\n" + section
	}
	rest := doc[i+len(heading)+1:]
	if j := strings.Index(rest, "\n## "); j >= 0 {
		return doc[:i] + section + rest[j:]
	}
	return doc[:i] + section
}
