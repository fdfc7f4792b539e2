package main

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// printSummary writes the human-readable result.
func printSummary(w io.Writer, r *Result) {
	verdict := "PASS"
	if !r.Passed {
		verdict = "FAIL"
	}
	cycles := ""
	if n := r.LeakCheck.Cycles; n > 1 {
		cycles = fmt.Sprintf(" × %d cycles", n)
	}
	fmt.Fprintf(w, "\n== loadtest %s: %d users, %d rooms, %g sends/s for %s%s ==\n", verdict, r.Users, r.Config.Rooms, r.Config.Rate, r.Config.Duration, cycles)
	fmt.Fprintf(w, "users connected   %s of %s   connect p50 %.1f ms  p99 %.1f ms  max %.1f ms\n",
		fmtCount(int64(r.UsersConnected)), fmtCount(int64(r.Users)), r.ConnectMS.P50, r.ConnectMS.P99, r.ConnectMS.Max)
	fmt.Fprintf(w, "sends             sent %s  acked %s  unacked %d  refused %d  (%.1f/s)  ack p99 %.2f ms\n",
		fmtCount(r.Sent), fmtCount(r.Acked), r.Unacked, r.SendErrors, r.SendsPerSec, r.AckMS.P99)
	fmt.Fprintf(w, "deliveries        expected %s  delivered %s  lost %d  duplicated %d  reordered %d  (%.0f/s)\n",
		fmtCount(r.ExpectedDeliveries), fmtCount(r.Delivered), r.Lost, r.Duplicated, r.Reordered, r.DeliveriesPerSec)
	fmt.Fprintf(w, "latency ms        p50 %.2f  p95 %.2f  p99 %.2f  p99.9 %.2f  max %.2f\n",
		r.LatencyMS.P50, r.LatencyMS.P95, r.LatencyMS.P99, r.LatencyMS.P999, r.LatencyMS.Max)
	if r.Config.Mix.events() {
		fmt.Fprintf(w, "mix               %s: %s\n", r.Config.Mix, fmtOps(r.Ops))
		for _, k := range kindNames {
			l, ok := r.LatencyByKindMS[k]
			if !ok {
				continue
			}
			fmt.Fprintf(w, "  %-16s p50 %.2f  p95 %.2f  p99 %.2f  p99.9 %.2f  max %.2f  (%s delivered)\n",
				k+" ms", l.P50, l.P95, l.P99, l.P999, l.Max, fmtCount(l.Count))
		}
	}
	if r.APIRequests > 0 {
		fmt.Fprintf(w, "api ms            p50 %.2f  p95 %.2f  p99 %.2f  max %.2f  (%s requests, %d errors, cache hit %.1f%%)\n",
			r.APILatencyMS.P50, r.APILatencyMS.P95, r.APILatencyMS.P99, r.APILatencyMS.Max, fmtCount(r.APIRequests), r.APIErrors, r.CacheHitRatio*100)
		routes := make([]string, 0, len(r.APIRoutes))
		for k := range r.APIRoutes {
			routes = append(routes, k)
		}
		sort.Strings(routes)
		for _, k := range routes {
			rs := r.APIRoutes[k]
			fmt.Fprintf(w, "  %-38s p50 %.2f  p95 %.2f  p99 %.2f  n=%d  hit %.0f%%\n", k, rs.LatencyMS.P50, rs.LatencyMS.P95, rs.LatencyMS.P99, rs.LatencyMS.Count, rs.CacheHitRatio*100)
		}
	}
	fmt.Fprintf(w, "server            cpu %.1f%% (100%% = 1 core)  rss peak %s  per conn: rss %s, Go heap+stacks %s  goroutines peak %d\n",
		r.Server.CPUPercent, fmtBytes(float64(r.Server.RSSBytes)), fmtBytes(r.Server.RSSBytesPerConn), fmtBytes(r.Server.MemBytesPerConn), r.Server.GoroutinesPeak)
	if r.Server.CPUMicrosPerDelivery > 0 {
		fmt.Fprintf(w, "server cpu        %.1f%% while delivering, %.1f µs per delivered message\n", r.Server.CPUDeliveringPercent, r.Server.CPUMicrosPerDelivery)
	}
	fmt.Fprintf(w, "generator         cpu %.1f%%  send lag p50 %.2f ms  p99 %.2f ms  max %.2f ms\n", r.GeneratorCPUPercent, r.SendLagMS.P50, r.SendLagMS.P99, r.SendLagMS.Max)
	if r.Reconnects > 0 || r.Drained > 0 || r.Dropped > 0 {
		fmt.Fprintf(w, "reconnects        %d (p50 %.2fs  max %.2fs)  drained(1001) %d  dropped %d  too slow %d  rate limited %d\n",
			r.Reconnects, r.ReconnectS.P50, r.ReconnectS.Max, r.Drained, r.Dropped, r.TooSlow, r.RateLimited)
	}
	if lc := r.LeakCheck; lc.Checked {
		for _, t := range lc.Targets {
			state := "ok"
			if !t.Passed {
				state = "NOT OK"
			}
			heap := "heap not judged (" + t.Plateau.Reason + ")"
			if t.Plateau.Judged {
				heap = fmt.Sprintf("heap plateau over the last %d cycles: peak %+.1f MiB, trough %+.1f MiB (bound %s), slope %+.1f KiB/cycle",
					t.Plateau.Window, t.Plateau.PeakRise/(1<<20), t.Plateau.TroughRise/(1<<20), fmtBytes(t.Plateau.Bound), t.Plateau.SlopePerCycle/1024)
			}
			fmt.Fprintf(w, "leak check        %s %s: %d cycle(s), goroutines %.0f → %.0f, heap %s → %s; %s\n", state, t.URL, lc.Cycles,
				t.GoroutinesBefore, t.GoroutinesAfter, fmtBytes(t.HeapBefore), fmtBytes(t.HeapAfter), heap)
		}
	}
	for _, k := range r.Kills {
		fmt.Fprintf(w, "kill              %s pid %d at %.1fs %s\n", k.Name, k.PID, k.AtS, k.Error)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "error             %s\n", e)
	}
	for _, x := range r.Warnings {
		fmt.Fprintf(w, "WARNING           %s\n", x)
	}
	for _, f := range r.Failures {
		fmt.Fprintf(w, "FAILURE           %s\n", f)
	}
}

// fmtOps lists -mix's operation counts in statNames order.
func fmtOps(ops map[string]int64) string {
	var parts []string
	for _, n := range statNames {
		parts = append(parts, n+" "+fmtCount(ops[n]))
	}
	return strings.Join(parts, "  ")
}

// fmtCount writes 1234567 as 1,234,567.
func fmtCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// fmtBytes writes a byte count with a binary unit.
func fmtBytes(b float64) string {
	neg := b < 0
	if neg {
		b = -b
	}
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for b >= 1024 && i < len(units)-1 {
		b /= 1024
		i++
	}
	s := strconv.FormatFloat(b, 'f', 1, 64) + " " + units[i]
	if i == 0 {
		s = strconv.FormatFloat(b, 'f', 0, 64) + " B"
	}
	if neg {
		return "-" + s
	}
	return s
}
