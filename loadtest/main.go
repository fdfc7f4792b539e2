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
	"os"
	"os/signal"
	"runtime/pprof"
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
	origin := time.Now().Add(lead)
	settle := 2*time.Second + time.Duration(cfg.Users/5000)*time.Second
	sendStart := origin.Add(cfg.Ramp + settle)
	plans := makePlans(cfg, users, rooms, origin, sendStart, randomHex(3))
	logf("run: %d users over %d process(es); ramp %s, sending %g/s for %s from t=%.1fs",
		len(users), cfg.Procs, cfg.Ramp, cfg.Rate, cfg.Duration, sendStart.Sub(origin).Seconds())

	// Memory per connection: every user connected and idle, just before
	// the first send.
	var connected []metricSample
	connDone := make(chan struct{})
	go func() {
		defer close(connDone)
		if sleepCtx(ctx, time.Until(sendStart.Add(-300*time.Millisecond))) {
			forceGC(ctx, gcClient, cfg.AdminURLs)
			connected = mon.snapshot(ctx)
		}
	}()
	var kills []KillEvent
	killDone := make(chan struct{})
	go func() {
		defer close(killDone)
		kills = runKills(ctx, cfg.Kills, origin, sendStart, logf)
	}()

	partials, err := runWorkers(ctx, plans, logf)
	<-connDone
	<-killDone
	if err != nil {
		return nil, err
	}
	merged := mergePartials(partials)
	stopMon()
	// The generator's CPU share is over the time its workers ran, not the
	// leak check's wait.
	wall := time.Since(origin).Seconds()

	if cfg.LeakCheck != "off" {
		logf("leak check: waiting up to %s for the server to settle", cfg.LeakTimeout)
	}
	leak := checkLeaks(ctx, mon, cfg.AdminURLs, baseline, cfg.LeakCheck, cfg.LeakTimeout)

	series := mon.series()
	server := summarizeServer(cfg.MetricsURLs, series, baseline, connected, merged.SendStart, merged.SendEnd, merged.UsersConnected)
	if !merged.SendStart.IsZero() {
		end := maxTime(merged.LastDelivery, merged.SendEnd)
		for i := range series {
			server.CPUDeliveringPercent += cpuPercent(series[i], merged.SendStart, end)
		}
		server.CPUDeliveringPercent = round3(server.CPUDeliveringPercent)
	}
	ri := runInfo{
		cfg:       cfg,
		started:   started,
		origin:    origin,
		server:    server,
		points:    serverPoints(series, origin),
		leak:      leak,
		kills:     kills,
		wallSecs:  wall,
		setupWarn: warns,
	}
	return buildResult(merged, ri), nil
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
