package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// KillSpec is one -kill item: send Signal to PID Delay after the send phase
// starts, to measure failover (reconnect time, loss) while load is running.
type KillSpec struct {
	Signal syscall.Signal `json:"signal"`
	Name   string         `json:"signal_name"`
	PID    int            `json:"pid"`
	Delay  time.Duration  `json:"delay"`
}

// KillEvent records what happened when a KillSpec fired.
type KillEvent struct {
	KillSpec
	AtS   float64 `json:"at_s"` // seconds since the timeline origin
	Error string  `json:"error,omitempty"`
}

var signalNames = map[string]syscall.Signal{
	"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT,
	"KILL": syscall.SIGKILL, "USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2,
	"TERM": syscall.SIGTERM, "STOP": syscall.SIGSTOP, "CONT": syscall.SIGCONT,
}

// parseKills parses "SIGNAL:PID@DELAY[,...]". SIGNAL is a name with or
// without the SIG prefix (any case) or a number; DELAY is a Go duration.
func parseKills(s string) ([]KillSpec, error) {
	var out []KillSpec
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		k, err := parseKill(item)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

func parseKill(item string) (KillSpec, error) {
	sigPart, rest, ok := strings.Cut(item, ":")
	if !ok {
		return KillSpec{}, fmt.Errorf("%q: want SIGNAL:PID@DELAY", item)
	}
	pidPart, delayPart, ok := strings.Cut(rest, "@")
	if !ok {
		return KillSpec{}, fmt.Errorf("%q: want SIGNAL:PID@DELAY", item)
	}
	sig, name, err := parseSignal(sigPart)
	if err != nil {
		return KillSpec{}, fmt.Errorf("%q: %w", item, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(pidPart))
	if err != nil || pid <= 1 {
		// PID 0, 1 and negatives would signal a process group or init.
		return KillSpec{}, fmt.Errorf("%q: PID must be an integer above 1", item)
	}
	delay, err := time.ParseDuration(strings.TrimSpace(delayPart))
	if err != nil || delay < 0 {
		return KillSpec{}, fmt.Errorf("%q: DELAY must be a non-negative duration like 10s", item)
	}
	return KillSpec{Signal: sig, Name: name, PID: pid, Delay: delay}, nil
}

func parseSignal(s string) (syscall.Signal, string, error) {
	s = strings.ToUpper(strings.TrimSpace(s))
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, "", fmt.Errorf("signal number %d out of range", n)
		}
		sig := syscall.Signal(n)
		for name, v := range signalNames {
			if v == sig {
				return sig, "SIG" + name, nil
			}
		}
		return sig, s, nil
	}
	s = strings.TrimPrefix(s, "SIG")
	sig, ok := signalNames[s]
	if !ok {
		return 0, "", fmt.Errorf("unknown signal %q", s)
	}
	return sig, "SIG" + s, nil
}

// runKills fires each spec at sendStart+Delay and returns what happened.
// origin is the timeline's zero, so events line up with the charts.
func runKills(ctx context.Context, specs []KillSpec, origin, sendStart time.Time, logf func(string, ...any)) []KillEvent {
	events := make([]KillEvent, 0, len(specs))
	for _, k := range sortKills(specs) {
		at := sendStart.Add(k.Delay)
		select {
		case <-ctx.Done():
			return events
		case <-time.After(time.Until(at)):
		}
		ev := KillEvent{KillSpec: k, AtS: time.Since(origin).Seconds()}
		if err := syscall.Kill(k.PID, k.Signal); err != nil {
			ev.Error = fmt.Sprintf("kill %s %d: %v", k.Name, k.PID, err)
		}
		logf("kill: sent %s to pid %d at t=%.1fs %s", k.Name, k.PID, ev.AtS, ev.Error)
		events = append(events, ev)
	}
	return events
}

// sortKills orders specs by delay so one timer loop can fire them in turn.
func sortKills(specs []KillSpec) []KillSpec {
	out := append([]KillSpec(nil), specs...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Delay < out[j-1].Delay; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}
