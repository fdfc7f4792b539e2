package main

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config is everything a run is told on the command line. It is also carried
// to child processes inside their plan, so its fields are exported and JSON.
type Config struct {
	Protocol    string        `json:"protocol"`
	URLs        []string      `json:"urls"`
	MetricsURLs []string      `json:"metrics_urls"`
	AdminURLs   []string      `json:"admin_urls,omitempty"`
	Users       int           `json:"users"`
	Rooms       int           `json:"rooms"`
	Rate        float64       `json:"rate"`
	Duration    time.Duration `json:"duration"`
	Ramp        time.Duration `json:"ramp"`
	APIRate     float64       `json:"api_rate"`
	History     string        `json:"history,omitempty"`
	BodySize    int           `json:"body_size"`
	Mix         Mix           `json:"mix"`
	Procs       int           `json:"procs"`
	Kills       []KillSpec    `json:"kills,omitempty"`
	SeedFile    string        `json:"-"`
	JSONFile    string        `json:"-"`
	HTMLFile    string        `json:"-"`
	SoakSVG     string        `json:"-"`
	SourceIPs   []string      `json:"source_ips,omitempty"`
	SetupConc   int           `json:"setup_concurrency"`
	Drain       time.Duration `json:"drain"`
	WSTimeout   time.Duration `json:"ws_timeout"`
	GapGrace    time.Duration `json:"gap_grace"`
	LeakCheck   string        `json:"leak_check"`
	LeakTimeout time.Duration `json:"leak_timeout"`
	SoakCycles  int           `json:"soak_cycles"`
	// GoroutineSlack: goroutines a bounded pool may keep past a cycle, one
	// value for every -metrics target or one each.
	GoroutineSlack []int         `json:"goroutine_slack,omitempty"`
	Soak           time.Duration `json:"soak,omitempty"`
	ScrapeEvery    time.Duration `json:"scrape_every"`
	Quiet          bool          `json:"quiet"`
	CPUProfile     string        `json:"-"`
	Compression    bool          `json:"compression"`
	CommandLine    string        `json:"command_line"`
	MaxUserRate    float64       `json:"-"`
	ConnectConc    int           `json:"connect_concurrency"`
	AllowFailure   bool          `json:"-"`
	SetupOnly      bool          `json:"-"`
	PayloadFile    string        `json:"-"`
}

// childArgs are the hidden flags a parent passes to the copies of itself it
// starts for -procs.
type childArgs struct {
	plan string
	out  string
}

// defaultOpsMetrics is /metrics on the shipped Caddyfile's operator listener
// at its default address (CHATGATE_OPS_ADDR 127.0.0.1:9180).
const defaultOpsMetrics = "http://127.0.0.1:9180/metrics"

// parseFlags reads args (without the program name) into a Config. It is kept
// apart from main so the validation rules can be unit-tested.
func parseFlags(args []string) (*Config, *childArgs, error) {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	var (
		c                                   Config
		urls, metricsURLs, adminURLs, kills string
		sources, slack, mix                 string
		child                               childArgs
	)
	fs.StringVar(&c.Protocol, "protocol", protoChatgate, "chatgate (PROTOCOL.md), or socketio: the Socket.IO peer of loadtest/peers/socketio (no setup, no REST, no leak check)")
	fs.StringVar(&urls, "url", "http://127.0.0.1:8080", "base URL of the server, or a comma list: users are spread over them and reconnect to the next one")
	fs.StringVar(&metricsURLs, "metrics", "auto", "comma list of Prometheus /metrics URLs to sample, or proc:PID for a local process and its descendants read from /proc (CPU, RSS); auto: the shipped Caddyfile's operator listener "+defaultOpsMetrics+" for a single loopback -url, else each -url + /metrics (socketio: none); none")
	fs.StringVar(&adminURLs, "admin", "auto", "comma list of Caddy admin base URLs, used to force a GC (/debug/pprof/heap?gc=1) before heap readings; auto: Caddy's default http://localhost:2019 for a single loopback -url; none")
	fs.IntVar(&c.Users, "users", 200, "number of users (one WebSocket connection each)")
	fs.IntVar(&c.Rooms, "rooms", 20, "number of rooms; user i joins room i mod rooms")
	fs.Float64Var(&c.Rate, "rate", 200, "total sends per second, open loop on a fixed schedule")
	fs.DurationVar(&c.Duration, "duration", 20*time.Second, "length of the send phase")
	fs.DurationVar(&c.Ramp, "ramp", 5*time.Second, "connections are opened evenly over this time before the send phase")
	fs.Float64Var(&c.APIRate, "api-rate", 0, "REST reads per second during the send phase (room info, members, history pages, room list)")
	fs.StringVar(&c.History, "history", HistoryAligned, "older-history reads: aligned (as the web client pages), oldest (before = oldest seq held) or random (before uniform, the mix before issue 14)")
	fs.StringVar(&mix, "mix", "", "operations drawn by weight, e.g. send=80,react=10,edit=5,delete=5 (default: sends only); edits and deletes act on the sender's own messages, reactions on any")
	fs.IntVar(&c.BodySize, "body-size", 100, "bytes per message body (it carries the intended send time)")
	fs.IntVar(&c.Procs, "procs", 1, "split users (by room) over this many processes and merge their results")
	fs.StringVar(&kills, "kill", "", "failover: SIGNAL:PID@DELAY[,SIGNAL:PID@DELAY...], DELAY counted from the start of the send phase")
	fs.StringVar(&c.SeedFile, "seed", "", "file of created users, tokens and rooms: reused when present, written after setup")
	fs.StringVar(&c.PayloadFile, "payload", "", "set up users and rooms only (no connection, no sending), write them to this CSV file for another load tool (index,token,user_id,room_id; user i in room i mod rooms) and exit")
	fs.StringVar(&c.JSONFile, "json", "", "write the result as JSON to this file")
	fs.StringVar(&c.HTMLFile, "html", "", "write a self-contained HTML report to this file")
	fs.StringVar(&c.SoakSVG, "soak-svg", "", "write the soak's heap-per-cycle chart to this SVG file")
	fs.StringVar(&sources, "source-ips", "auto", "source addresses to dial from: auto (127.0.0.2-17 for loopback targets), none, a count N (127.0.0.2..), or a comma list")
	fs.IntVar(&c.SetupConc, "setup-concurrency", 8, "concurrent REST calls while creating users (argon2id makes each registration slow)")
	fs.IntVar(&c.ConnectConc, "connect-concurrency", 256, "WebSocket handshakes in flight at once")
	fs.DurationVar(&c.Drain, "drain", 10*time.Second, "after the send phase, how long to wait for acks and deliveries")
	fs.DurationVar(&c.WSTimeout, "ws-timeout", 15*time.Second, "a connection silent this long is dead (a ping goes out after a third of it without a frame)")
	fs.DurationVar(&c.GapGrace, "gap-grace", 500*time.Millisecond, "a seq gap not filled on the stream within this time is fetched with REST after=")
	fs.StringVar(&c.LeakCheck, "leak-check", "fail", "after each cycle goroutines must fall back to the baseline, and over a soak (4+ cycles) the heap must plateau: fail (exit 1), warn, off")
	fs.DurationVar(&c.LeakTimeout, "leak-timeout", 20*time.Second, "after each cycle, how long to wait for the server's goroutines to come back")
	fs.IntVar(&c.SoakCycles, "soak-cycles", 1, "cycles of connect, chat (-duration), disconnect, forced GC and a heap reading; 4 or more judge a heap plateau")
	fs.StringVar(&slack, "goroutine-slack", "", "goroutines a bounded pool may keep after a cycle, on top of the baseline: one number, or a comma list matching -metrics (e.g. a proxy's idle upstream connections)")
	fs.DurationVar(&c.Soak, "soak", 0, "soak for this long instead of -soak-cycles: cycles start while the next one fits")
	fs.DurationVar(&c.ScrapeEvery, "scrape", time.Second, "how often to sample each server's /metrics")
	fs.Float64Var(&c.MaxUserRate, "max-user-rate", 10, "warn when -rate/-users exceeds this (the server limits each connection to ~20/s)")
	fs.BoolVar(&c.Quiet, "q", false, "print only the summary")
	fs.BoolVar(&c.SetupOnly, "setup-only", false, "create (or check) the users and rooms, write -seed, and stop: no connections")
	fs.BoolVar(&c.Compression, "compression", false, "offer permessage-deflate like browsers do (costs server and generator CPU)")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write the generator's own CPU profile here (profile the tool, not the server)")
	fs.StringVar(&child.plan, "child-plan", "", "internal: run as a -procs child with this plan file")
	fs.StringVar(&child.out, "child-out", "", "internal: where a child writes its partial result")
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	if fs.NArg() > 0 {
		return nil, nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if child.plan != "" {
		if child.out == "" {
			return nil, nil, errors.New("-child-plan needs -child-out")
		}
		return nil, &child, nil
	}
	var err error
	if c.Mix, err = parseMix(mix); err != nil {
		return nil, nil, fmt.Errorf("-mix: %w", err)
	}
	if c.URLs, err = parseURLList(urls); err != nil {
		return nil, nil, fmt.Errorf("-url: %w", err)
	}
	if c.Protocol == protoSocketIO {
		// The peer has no /metrics, no admin API and no Go heap: its
		// CPU comes from -metrics proc:PID, and there is no leak check
		// unless asked for (which validate refuses).
		if metricsURLs == "auto" {
			metricsURLs = "none"
		}
		if adminURLs == "auto" {
			adminURLs = "none"
		}
		explicit := false
		fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "leak-check" })
		if !explicit {
			c.LeakCheck = "off"
		}
	}
	switch metricsURLs {
	case "none":
	case "", "auto":
		// A gateway from the shipped Caddyfile serves /metrics on its
		// operator listener only (CHATGATE_OPS_ADDR), not on its site;
		// `make run` leaves it at the default. Several URLs are several
		// instances whose operator ports cannot be guessed: their sites
		// are asked (an LB, or gateways with CHATGATE_OPS_ON_SITE=on).
		if len(c.URLs) == 1 && isLoopbackURL(c.URLs[0]) {
			c.MetricsURLs = []string{defaultOpsMetrics}
			break
		}
		for _, u := range c.URLs {
			c.MetricsURLs = append(c.MetricsURLs, u+"/metrics")
		}
	default:
		if c.MetricsURLs, err = parseMetricsList(metricsURLs); err != nil {
			return nil, nil, fmt.Errorf("-metrics: %w", err)
		}
	}
	switch adminURLs {
	case "", "none":
	case "auto":
		if len(c.URLs) == 1 && isLoopbackURL(c.URLs[0]) {
			c.AdminURLs = []string{"http://localhost:2019"}
		}
	default:
		if c.AdminURLs, err = parseURLList(adminURLs); err != nil {
			return nil, nil, fmt.Errorf("-admin: %w", err)
		}
	}
	for _, f := range strings.Split(slack, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 {
			return nil, nil, fmt.Errorf("-goroutine-slack: %q is not a count", f)
		}
		c.GoroutineSlack = append(c.GoroutineSlack, n)
	}
	if n := len(c.GoroutineSlack); n > 1 && n != len(c.MetricsURLs) {
		return nil, nil, fmt.Errorf("-goroutine-slack: %d values for %d -metrics targets", n, len(c.MetricsURLs))
	}
	if c.Kills, err = parseKills(kills); err != nil {
		return nil, nil, fmt.Errorf("-kill: %w", err)
	}
	if c.SourceIPs, err = parseSourceIPs(sources, c.URLs); err != nil {
		return nil, nil, fmt.Errorf("-source-ips: %w", err)
	}
	c.CommandLine = "go run ./loadtest " + strings.Join(args, " ")
	return &c, nil, c.validate()
}

func (c *Config) validate() error {
	switch {
	case c.Users < 1:
		return errors.New("-users must be at least 1")
	case c.Rooms < 1 || c.Rooms > c.Users:
		return fmt.Errorf("-rooms must be between 1 and -users (%d)", c.Users)
	case c.Rate < 0 || c.APIRate < 0:
		return errors.New("-rate and -api-rate must not be negative")
	case c.History != "" && c.History != HistoryAligned && c.History != HistoryOldest && c.History != HistoryRandom:
		return fmt.Errorf("-history must be %s, %s or %s", HistoryAligned, HistoryOldest, HistoryRandom)
	case c.Duration <= 0:
		return errors.New("-duration must be positive")
	case c.Ramp < 0 || c.Drain < 0:
		return errors.New("-ramp and -drain must not be negative")
	case c.Procs < 1 || c.Procs > c.Rooms:
		// Rooms are never split across processes: each process must see
		// every ack of its rooms to know the final seq it checks against.
		return fmt.Errorf("-procs must be between 1 and -rooms (%d)", c.Rooms)
	case c.BodySize < 48 || c.BodySize > 4000:
		return errors.New("-body-size must be between 48 and 4000 bytes")
	case c.SetupConc < 1 || c.ConnectConc < 1:
		return errors.New("-setup-concurrency and -connect-concurrency must be at least 1")
	case c.WSTimeout < time.Second:
		return errors.New("-ws-timeout must be at least 1s")
	case c.SoakCycles < 1 || c.Soak < 0:
		return errors.New("-soak-cycles must be at least 1 and -soak not negative")
	case c.Soak > 0 && c.SoakCycles != 1:
		return errors.New("-soak and -soak-cycles: give one of them")
	case len(c.Kills) > 0 && c.soaking():
		return errors.New("-kill runs one cycle: not with -soak or -soak-cycles")
	}
	switch c.LeakCheck {
	case "fail", "warn", "off":
	default:
		return fmt.Errorf("-leak-check must be fail, warn or off, not %q", c.LeakCheck)
	}
	switch c.Protocol {
	case protoChatgate:
	case protoSocketIO:
		if c.APIRate > 0 {
			return errors.New("-protocol socketio has no REST API: -api-rate must be 0")
		}
		if c.Mix.events() {
			return errors.New("-protocol socketio has no edits, deletes or reactions: no -mix")
		}
		if c.LeakCheck != "off" {
			return errors.New("-protocol socketio has no /metrics to check leaks with: -leak-check off")
		}
	default:
		return fmt.Errorf("-protocol must be chatgate or socketio, not %q", c.Protocol)
	}
	for _, m := range c.MetricsURLs {
		if isProcTarget(m) && c.LeakCheck != "off" {
			// /proc gives CPU and RSS, not goroutines and heap.
			return fmt.Errorf("-metrics %s has no goroutines or heap to check: use -leak-check off", m)
		}
	}
	if len(c.MetricsURLs) == 0 && c.LeakCheck != "off" {
		// With nothing sampled the check would pass without looking.
		return errors.New("-metrics none needs -leak-check off")
	}
	return nil
}

// soaking is true when more than one cycle may run.
func (c *Config) soaking() bool { return c.Soak > 0 || c.SoakCycles > 1 }

// perUserRate is the send rate each connection carries.
func (c *Config) perUserRate() float64 { return c.Rate / float64(c.Users) }

// parseMetricsList is parseURLList that also takes proc:PID targets, in
// the order given.
func parseMetricsList(s string) ([]string, error) {
	var out []string
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		switch {
		case part == "":
		case isProcTarget(part):
			if _, _, err := parseProcTarget(part); err != nil {
				return nil, err
			}
			out = append(out, part)
		default:
			u, err := parseURLList(part)
			if err != nil {
				return nil, err
			}
			out = append(out, u...)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no target given")
	}
	return out, nil
}

// parseURLList splits a comma list of http(s) base URLs and drops trailing
// slashes so paths can be appended.
func parseURLList(s string) ([]string, error) {
	var out []string
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		u, err := url.Parse(part)
		if err != nil {
			return nil, fmt.Errorf("parse %q: %w", part, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return nil, fmt.Errorf("%q: scheme must be http or https", part)
		}
		if u.Host == "" {
			return nil, fmt.Errorf("%q: no host", part)
		}
		out = append(out, strings.TrimRight(part, "/"))
	}
	if len(out) == 0 {
		return nil, errors.New("no URL given")
	}
	return out, nil
}
