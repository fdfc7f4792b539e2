// Command loadtest drives a Chatgate server over its public protocol
// (PROTOCOL.md: REST + /ws) and proves latency, throughput, scale and
// zero loss: every send acked, every member gets every message of its room
// exactly once and in seq order, and the server returns to its idle
// goroutines and heap afterwards. See loadtest/README.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(realMain(os.Args[1:]))
}

func realMain(args []string) int {
	cfg, child, err := parseFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if child != nil {
		return childMain(ctx, child)
	}
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadtest: -cpuprofile:", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}
	if cfg.PayloadFile != "" {
		if err := setupOnly(ctx, cfg); err != nil {
			fmt.Fprintln(os.Stderr, "loadtest:", err)
			return 2
		}
		return 0
	}
	res, err := run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		return 2
	}
	if res == nil { // -setup-only
		return 0
	}
	printSummary(os.Stdout, res)
	if cfg.JSONFile != "" {
		b, err := json.MarshalIndent(res, "", "  ")
		if err == nil {
			err = os.WriteFile(cfg.JSONFile, append(b, '\n'), 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadtest: write -json:", err)
			return 2
		}
	}
	if cfg.HTMLFile != "" {
		if err := writeHTML(cfg.HTMLFile, res); err != nil {
			fmt.Fprintln(os.Stderr, "loadtest:", err)
			return 2
		}
	}
	if cfg.SoakSVG != "" {
		if err := writeSoakSVG(cfg.SoakSVG, res); err != nil {
			fmt.Fprintln(os.Stderr, "loadtest:", err)
			return 2
		}
	}
	if !res.Passed {
		return 1
	}
	return 0
}

// run is the parent's whole job: setup, baseline, workers, kills, server
// sampling, leak check, result.
func run(ctx context.Context, cfg *Config) (*Result, error) {
	logf := newLogf(cfg.Quiet, "")
	started := time.Now()
	warns, err := preflight(cfg)
	if err != nil {
		return nil, err
	}
	for _, w := range warns {
		logf("warning: %s", w)
	}

	seed, err := loadSeed(cfg.SeedFile)
	if err != nil {
		return nil, err
	}
	setupAPI := newAPIClient(newSourceDialer(cfg.SourceIPs, 10*time.Second), 64, nil)
	t0 := time.Now()
	var users []SeedUser
	var rooms []SeedRoom
	if cfg.Protocol == protoSocketIO {
		users, rooms = peerUsers(cfg)
	} else {
		users, rooms, err = setup(ctx, cfg, setupAPI, seed, logf)
	}
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	// Idle keep-alive connections hold server goroutines: drop them so the
	// baseline and the leak check see the same server.
	setupAPI.http.CloseIdleConnections()
	logf("setup: %d users, %d rooms ready in %s", len(users), len(rooms), time.Since(t0).Round(time.Millisecond))
	if cfg.SetupOnly {
		return nil, nil
	}

	mon := newMonitor(cfg.MetricsURLs)
	gcClient := newMonitor(nil).client
	forceGC(ctx, gcClient, cfg.AdminURLs)
	baseline := mon.snapshot(ctx)
	for i, s := range baseline {
		if !s.ok() {
			logf("warning: %s: %s (server CPU/RSS and the leak check need it)", cfg.MetricsURLs[i], s.Err)
		}
	}
	monCtx, stopMon := context.WithCancel(ctx)
	defer stopMon()
	go mon.run(monCtx, cfg.ScrapeEvery)

	// Children need a moment to start; the parent connects at once.
	lead := 200 * time.Millisecond
	if cfg.Procs > 1 {
		lead = 1500 * time.Millisecond
	}
	settle := 2*time.Second + time.Duration(cfg.Users/5000)*time.Second
	soakOrigin := time.Now().Add(lead)
	var (
		cycles    []*Partial
		readings  []cycleReading
		kills     []KillEvent
		connected []metricSample
		wall      float64
		sendSecs  float64
		delivSecs float64
		last      *Partial
	)
	for c := 1; ; c++ {
		// Every cycle starts a whole number of seconds after the first,
		// so the cycles' per-second series add up on one time axis.
		origin, shift := soakOrigin, 0
		if c > 1 {
			shift = int(math.Ceil((time.Since(soakOrigin) + lead).Seconds()))
			origin = soakOrigin.Add(time.Duration(shift) * time.Second)
		}
		sendStart := origin.Add(cfg.Ramp + settle)
		plans := makePlans(cfg, users, rooms, origin, sendStart, randomHex(3))
		if c == 1 {
			logf("run: %d users over %d process(es); ramp %s, sending %g/s for %s from t=%.1fs",
				len(users), cfg.Procs, cfg.Ramp, cfg.Rate, cfg.Duration, sendStart.Sub(origin).Seconds())
		}

		// Memory per connection: every user connected and idle, just
		// before the first cycle's first send.
		connDone := make(chan struct{})
		go func() {
			defer close(connDone)
			if c == 1 && sleepCtx(ctx, time.Until(sendStart.Add(-300*time.Millisecond))) {
				forceGC(ctx, gcClient, cfg.AdminURLs)
				connected = mon.snapshot(ctx)
			}
		}()
		killDone := make(chan struct{})
		go func() {
			defer close(killDone)
			if c == 1 {
				kills = runKills(ctx, cfg.Kills, origin, sendStart, logf)
			}
		}()

		partials, err := runWorkers(ctx, plans, logf)
		<-connDone
		<-killDone
		if err != nil && ctx.Err() != nil && len(cycles) > 0 {
			logf("interrupted during cycle %d: reporting the %d cycle(s) done", c, len(cycles))
			break
		}
		if err != nil {
			return nil, err
		}
		m := mergePartials(partials)
		// The generator's CPU share is over the time its workers ran, not
		// the settling waits.
		wall += time.Since(origin).Seconds()
		if !m.SendStart.IsZero() {
			sendSecs += m.SendEnd.Sub(m.SendStart).Seconds()
			delivSecs += maxTime(m.LastDelivery, m.SendEnd).Sub(m.SendStart).Seconds()
		}
		last = m
		shiftTimeline(m, shift)
		cycles = append(cycles, m)

		if cfg.LeakCheck != "off" && ctx.Err() == nil {
			samples, waited := settleServers(ctx, mon, gcClient, cfg.AdminURLs, cfg.GoroutineSlack, baseline, cfg.LeakTimeout)
			readings = append(readings, cycleReading{samples: samples, waited: waited, origin: soakOrigin})
			logf("cycle %d: %s", c, cycleLine(samples, waited))
		} else if cfg.soaking() {
			logf("cycle %d done", c)
		}
		cycleLen := time.Since(origin)
		if ctx.Err() != nil {
			break
		}
		if cfg.Soak > 0 {
			if time.Now().Add(cycleLen).After(soakOrigin.Add(cfg.Soak)) {
				break
			}
		} else if c >= cfg.SoakCycles {
			break
		}
	}
	stopMon()
	merged := mergeCycles(cycles)
	leak := judgeSoak(cfg.LeakCheck, cfg.MetricsURLs, cfg.GoroutineSlack, baseline, readings)

	series := mon.series()
	// CPU over the last cycle's send phase: a steady state, and no idle
	// gaps between cycles (a plain run is one cycle).
	server := summarizeServer(cfg.MetricsURLs, series, baseline, connected, last.SendStart, last.SendEnd, last.UsersConnected)
	if !last.SendStart.IsZero() {
		end := maxTime(last.LastDelivery, last.SendEnd)
		for i := range series {
			server.CPUDeliveringPercent += cpuPercent(series[i], last.SendStart, end)
		}
		server.CPUDeliveringPercent = round3(server.CPUDeliveringPercent)
	}
	ri := runInfo{
		cfg:       cfg,
		started:   started,
		origin:    soakOrigin,
		server:    server,
		points:    serverPoints(series, soakOrigin),
		leak:      leak,
		kills:     kills,
		wallSecs:  wall,
		sendSecs:  sendSecs,
		delivSecs: delivSecs,
		setupWarn: warns,
	}
	return buildResult(merged, ri), nil
}

// cycleLine is the log line of one cycle's settled readings.
func cycleLine(samples []metricSample, waited float64) string {
	var b strings.Builder
	for i, s := range samples {
		if i > 0 {
			b.WriteString(" | ")
		}
		if !s.ok() {
			b.WriteString("no sample: " + s.Err)
			continue
		}
		fmt.Fprintf(&b, "heap %s, goroutines %.0f, rss %s", fmtBytes(heapOf(s)), s.Goroutines, fmtBytes(s.RSS))
	}
	fmt.Fprintf(&b, " (settled in %.1fs)", waited)
	return b.String()
}

// mergeCycles adds a soak's cycles together like mergePartials, except
// that the users are the same users every cycle: planned is one cycle's,
// connected the fewest any cycle had.
func mergeCycles(cycles []*Partial) *Partial {
	out := mergePartials(cycles)
	if len(cycles) > 1 {
		out.UsersPlanned, out.UsersConnected = cycles[0].UsersPlanned, cycles[0].UsersConnected
		for _, c := range cycles[1:] {
			out.UsersConnected = min(out.UsersConnected, c.UsersConnected)
		}
	}
	return out
}

// shiftTimeline moves a partial's per-second series k seconds later.
func shiftTimeline(p *Partial, k int) {
	if k <= 0 {
		return
	}
	tl := &p.Timeline
	pad := func(s []int64) []int64 { return append(make([]int64, k), s...) }
	tl.Sent, tl.Acked, tl.Delivered, tl.Connected = pad(tl.Sent), pad(tl.Acked), pad(tl.Delivered), pad(tl.Connected)
	lat := make(map[int]Hist, len(tl.Latency))
	for s, h := range tl.Latency {
		lat[s+k] = h
	}
	tl.Latency = lat
}

// preflight checks what would make the run meaningless before creating
// anything: open-file limits and a per-user rate the server would refuse.
func preflight(cfg *Config) ([]string, error) {
	var warns []string
	if r := cfg.perUserRate(); r > cfg.MaxUserRate {
		warns = append(warns, fmt.Sprintf("%.1f sends/s per user (-rate %g / -users %d): the server limits each connection to ~20/s (burst 40); expect rate_limited refusals", r, cfg.Rate, cfg.Users))
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
		perProc := uint64(cfg.Users/cfg.Procs + cfg.Users%cfg.Procs)
		// One fd per connection, plus REST keep-alives, files and slack.
		if perProc+512 > lim.Max {
			need := cfg.Users/int(lim.Max-512) + 1
			return nil, fmt.Errorf("%d connections per process exceed the open-file limit %d: use -procs %d or more", perProc, lim.Max, need)
		}
	}
	return warns, nil
}

// newLogf returns a timestamped logger on stderr; quiet silences it.
func newLogf(quiet bool, prefix string) func(string, ...any) {
	if quiet {
		return func(string, ...any) {}
	}
	return func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "%s %s%s\n", time.Now().Format("15:04:05.000"), prefix, fmt.Sprintf(format, args...))
	}
}
