package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseFlagsDefaultsAndDerived(t *testing.T) {
	cfg, child, err := parseFlags([]string{"-url", "http://127.0.0.1:9000/, http://127.0.0.1:9001", "-users", "100", "-rooms", "10", "-rate", "50", "-duration", "3s", "-kill", "TERM:4242@1s"})
	if err != nil || child != nil {
		t.Fatalf("parse: %v %v", err, child)
	}
	if len(cfg.URLs) != 2 || cfg.URLs[0] != "http://127.0.0.1:9000" {
		t.Fatalf("urls: %q", cfg.URLs)
	}
	if cfg.MetricsURLs[1] != "http://127.0.0.1:9001/metrics" {
		t.Fatalf("metrics default: %q", cfg.MetricsURLs)
	}
	if len(cfg.SourceIPs) != 16 || cfg.SourceIPs[0] != "127.0.0.2" {
		t.Fatalf("auto source IPs for loopback: %q", cfg.SourceIPs)
	}
	if cfg.Duration != 3*time.Second || len(cfg.Kills) != 1 || cfg.Kills[0].PID != 4242 {
		t.Fatalf("cfg: %+v", cfg)
	}
	if cfg.AdminURLs != nil {
		t.Fatalf("two URLs: no admin guess, got %q", cfg.AdminURLs)
	}
	if cfg.perUserRate() != 0.5 {
		t.Fatalf("per user rate %v", cfg.perUserRate())
	}
	if !strings.HasPrefix(cfg.CommandLine, "go run ./loadtest -url") {
		t.Fatalf("command line %q", cfg.CommandLine)
	}
}

func TestParseFlagsAdmin(t *testing.T) {
	cfg, _, err := parseFlags([]string{"-url", "http://127.0.0.1:8080"})
	if err != nil || len(cfg.AdminURLs) != 1 || cfg.AdminURLs[0] != "http://localhost:2019" {
		t.Fatalf("auto: %q %v", cfg.AdminURLs, err)
	}
	cfg, _, _ = parseFlags([]string{"-url", "http://127.0.0.1:8080", "-admin", "none"})
	if cfg.AdminURLs != nil {
		t.Fatalf("none: %q", cfg.AdminURLs)
	}
	cfg, _, _ = parseFlags([]string{"-url", "http://127.0.0.1:8080", "-admin", "http://127.0.0.1:9/"})
	if len(cfg.AdminURLs) != 1 || cfg.AdminURLs[0] != "http://127.0.0.1:9" {
		t.Fatalf("explicit: %q", cfg.AdminURLs)
	}
}

func TestParseFlagsMetrics(t *testing.T) {
	// One gateway on this host: its operator listener, not its site (which
	// answers /metrics with 404).
	cfg, _, err := parseFlags([]string{"-url", "http://127.0.0.1:8080"})
	if err != nil || len(cfg.MetricsURLs) != 1 || cfg.MetricsURLs[0] != "http://127.0.0.1:9180/metrics" {
		t.Fatalf("auto: %q %v", cfg.MetricsURLs, err)
	}
	cfg, _, err = parseFlags([]string{"-url", "http://127.0.0.1:8080", "-metrics", "http://127.0.0.1:19180/metrics"})
	if err != nil || len(cfg.MetricsURLs) != 1 || cfg.MetricsURLs[0] != "http://127.0.0.1:19180/metrics" {
		t.Fatalf("explicit: %q %v", cfg.MetricsURLs, err)
	}
	cfg, _, err = parseFlags([]string{"-url", "http://chat.example:8080", "-metrics", "none", "-leak-check", "off"})
	if err != nil || len(cfg.MetricsURLs) != 0 {
		t.Fatalf("none: %q %v", cfg.MetricsURLs, err)
	}
	if _, _, err := parseFlags([]string{"-url", "http://127.0.0.1:8080", "-metrics", "none"}); err == nil {
		t.Fatal("-metrics none with the leak check on must fail: it would pass without looking")
	}
}

func TestParseFlagsChild(t *testing.T) {
	_, child, err := parseFlags([]string{"-child-plan", "p.json", "-child-out", "o.json"})
	if err != nil || child == nil || child.plan != "p.json" || child.out != "o.json" {
		t.Fatalf("child: %+v %v", child, err)
	}
	if _, _, err := parseFlags([]string{"-child-plan", "p.json"}); err == nil {
		t.Fatal("child without -child-out must fail")
	}
}

func TestParseFlagsRejects(t *testing.T) {
	for _, args := range [][]string{
		{"-users", "0"},
		{"-users", "10", "-rooms", "11"},
		{"-rooms", "0"},
		{"-rate", "-1"},
		{"-duration", "0s"},
		{"-procs", "0"},
		{"-users", "10", "-rooms", "2", "-procs", "3"},
		{"-body-size", "10"},
		{"-leak-check", "maybe"},
		{"-url", "ftp://x"},
		{"-url", ""},
		{"-kill", "TERM:1@1s"},
		{"-source-ips", "300"},
		{"-source-ips", "1.2.3"},
		{"extra"},
	} {
		if _, _, err := parseFlags(args); err == nil {
			t.Errorf("%q: want an error", args)
		}
	}
}

func TestSourceIPs(t *testing.T) {
	remote := []string{"http://10.0.0.5:8080"}
	if ips, _ := parseSourceIPs("auto", remote); ips != nil {
		t.Fatalf("auto for a remote target must not bind: %q", ips)
	}
	if ips, _ := parseSourceIPs("auto", []string{"http://localhost:8080"}); len(ips) != 16 {
		t.Fatalf("auto for localhost: %q", ips)
	}
	if ips, _ := parseSourceIPs("3", remote); len(ips) != 3 || ips[2] != "127.0.0.4" {
		t.Fatalf("count: %q", ips)
	}
	if ips, _ := parseSourceIPs("127.0.0.9, 127.0.0.10", remote); len(ips) != 2 || ips[1] != "127.0.0.10" {
		t.Fatalf("list: %q", ips)
	}
	if ips, _ := parseSourceIPs("none", []string{"http://127.0.0.1:1"}); ips != nil {
		t.Fatalf("none: %q", ips)
	}
}

func TestParseFlagsSocketIO(t *testing.T) {
	cfg, _, err := parseFlags([]string{"-protocol", "socketio", "-url", "http://127.0.0.1:18090", "-metrics", "proc:4242"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.LeakCheck != "off" || cfg.AdminURLs != nil || len(cfg.MetricsURLs) != 1 || cfg.MetricsURLs[0] != "proc:4242" {
		t.Fatalf("socketio defaults: %+v", cfg)
	}
	if cfg, _, err := parseFlags([]string{"-protocol", "socketio"}); err != nil || cfg.MetricsURLs != nil {
		t.Fatalf("socketio auto metrics: %v", err)
	}
	for _, bad := range [][]string{
		{"-protocol", "socketio", "-api-rate", "10"},
		{"-protocol", "socketio", "-leak-check", "fail"},
		{"-protocol", "mqtt"},
		{"-metrics", "proc:4242"}, // chatgate: the leak check needs /metrics
		{"-metrics", "proc:x", "-leak-check", "off"},
	} {
		if _, _, err := parseFlags(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	cfg, _, err = parseFlags([]string{"-metrics", "proc:1,http://127.0.0.1:9/metrics", "-leak-check", "off"})
	if err != nil || len(cfg.MetricsURLs) != 2 || cfg.MetricsURLs[0] != "proc:1" {
		t.Fatalf("mixed: %q %v", cfg.MetricsURLs, err)
	}
}
