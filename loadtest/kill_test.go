package main

import (
	"syscall"
	"testing"
	"time"
)

func TestParseKills(t *testing.T) {
	ks, err := parseKills("TERM:1234@10s, sigkill:99@1m30s,9:4321@0s")
	if err != nil {
		t.Fatal(err)
	}
	want := []KillSpec{
		{Signal: syscall.SIGTERM, Name: "SIGTERM", PID: 1234, Delay: 10 * time.Second},
		{Signal: syscall.SIGKILL, Name: "SIGKILL", PID: 99, Delay: 90 * time.Second},
		{Signal: syscall.SIGKILL, Name: "SIGKILL", PID: 4321, Delay: 0},
	}
	if len(ks) != len(want) {
		t.Fatalf("got %d specs", len(ks))
	}
	for i := range want {
		if ks[i] != want[i] {
			t.Errorf("spec %d: got %+v, want %+v", i, ks[i], want[i])
		}
	}
	if ks, err := parseKills(""); err != nil || len(ks) != 0 {
		t.Fatalf("empty: %v %v", ks, err)
	}
}

func TestParseKillsRejects(t *testing.T) {
	for _, bad := range []string{
		"TERM", "TERM:12", "TERM@10s", "BOGUS:12@1s", "TERM:abc@1s", "TERM:1@1s", "TERM:0@1s",
		"TERM:-5@1s", "TERM:12@soon", "TERM:12@-1s", "0:12@1s", "99:12@1s",
	} {
		if _, err := parseKills(bad); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

func TestSortKills(t *testing.T) {
	in := []KillSpec{{PID: 3, Delay: 3 * time.Second}, {PID: 1, Delay: time.Second}, {PID: 2, Delay: 2 * time.Second}}
	out := sortKills(in)
	for i, k := range out {
		if k.PID != i+1 {
			t.Fatalf("order: %+v", out)
		}
	}
	if in[0].PID != 3 {
		t.Fatal("sortKills must not modify its input")
	}
}
