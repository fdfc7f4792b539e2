package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// makePlans splits users over cfg.Procs workers by whole rooms (room r goes
// to worker r mod procs) and gives each its share of the send and REST rates,
// so every user sends at the same rate whatever the split.
func makePlans(cfg *Config, users []SeedUser, rooms []SeedRoom, origin, sendStart time.Time, runID string) []*Plan {
	seconds := int(sendStart.Sub(origin).Seconds()+cfg.Duration.Seconds()+cfg.Drain.Seconds()) + 10
	plans := make([]*Plan, cfg.Procs)
	for i := range plans {
		plans[i] = &Plan{Index: i, Config: *cfg, Origin: origin, SendStart: sendStart, Seconds: seconds, RunID: fmt.Sprintf("%s%d", runID, i)}
	}
	for i, u := range users {
		r := i % len(rooms)
		p := plans[r%cfg.Procs]
		p.Users = append(p.Users, PlanUser{SeedUser: u, Global: i, Room: rooms[r].ID})
	}
	for _, p := range plans {
		share := float64(len(p.Users)) / float64(len(users))
		p.Rate = cfg.Rate * share
		p.APIRate = cfg.APIRate * share
	}
	return plans
}

// runWorkers runs the plans: in this process when there is one, else as
// copies of this executable (-child-plan), which is how one machine gets
// past 20,000 open files per process.
func runWorkers(ctx context.Context, plans []*Plan, logf func(string, ...any)) ([]*Partial, error) {
	if len(plans) == 1 {
		p, err := newWorker(plans[0], logf).run(ctx)
		if err != nil {
			return nil, err
		}
		return []*Partial{p}, nil
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable for -procs: %w", err)
	}
	dir, err := os.MkdirTemp("", "loadtest-procs-")
	if err != nil {
		return nil, fmt.Errorf("temp dir for -procs: %w", err)
	}
	defer os.RemoveAll(dir) // plans hold passwords and tokens
	out := make([]*Partial, len(plans))
	errs := make([]error, len(plans))
	var wg sync.WaitGroup
	for i, plan := range plans {
		planFile := filepath.Join(dir, fmt.Sprintf("plan-%d.json", i))
		outFile := filepath.Join(dir, fmt.Sprintf("out-%d.json", i))
		if err := writeJSON(planFile, plan, 0o600); err != nil {
			return nil, err
		}
		cmd := exec.CommandContext(ctx, self, "-child-plan", planFile, "-child-out", outFile)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		// On ^C the children get SIGINT too and finish their own cleanup.
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
		cmd.WaitDelay = 15 * time.Second
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("start worker %d: %w", i, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := cmd.Wait(); err != nil {
				errs[i] = fmt.Errorf("worker %d: %w", i, err)
				return
			}
			p := &Partial{}
			if err := readJSON(outFile, p); err != nil {
				errs[i] = fmt.Errorf("worker %d result: %w", i, err)
				return
			}
			out[i] = p
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// childMain is the -procs child: run one plan, write its partial result.
func childMain(ctx context.Context, args *childArgs) int {
	plan := &Plan{}
	if err := readJSON(args.plan, plan); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest child:", err)
		return 2
	}
	logf := newLogf(plan.Config.Quiet, "")
	p, err := newWorker(plan, logf).run(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadtest worker %d: %v\n", plan.Index, err)
		return 2
	}
	if err := writeJSON(args.out, p, 0o600); err != nil {
		fmt.Fprintf(os.Stderr, "loadtest worker %d: %v\n", plan.Index, err)
		return 2
	}
	return 0
}

func writeJSON(path string, v any, perm os.FileMode) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	if err := os.WriteFile(path, b, perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	return nil
}
