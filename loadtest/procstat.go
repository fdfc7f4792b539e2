package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// A proc:PID target of -metrics is sampled from /proc instead of /metrics:
// the CPU and RSS of the process and all its descendants. It measures
// servers that have no Prometheus endpoint (the Socket.IO peer) and those
// that are several processes (Postgres: the postmaster's tree holds every
// backend), the same way for all of them.
//
// proc:PID@DB is a Postgres postmaster whose client backends count only
// when they serve database DB: the postmaster, its background processes
// (checkpointer, WAL writer, autovacuum...) and DB's backends, without the
// reaped children's times (they may have served any database). On a
// cluster shared with other work that is the part one gateway causes.
const procPrefix = "proc:"

func isProcTarget(t string) bool { return strings.HasPrefix(t, procPrefix) }

// clockTicks is USER_HZ, the unit of the CPU times in /proc/PID/stat: 100
// on every Linux architecture Go supports.
const clockTicks = 100

// procStat is what the generator reads from one /proc/PID/stat.
type procStat struct {
	pid, ppid int
	// ownTicks: utime + stime; childTicks: cutime + cstime, the
	// descendants that exited and were reaped (Postgres backends that
	// ended), so the tree's total never goes back.
	ownTicks, childTicks int64
	rssPages             int64
}

// parseProcStat reads one stat line. comm (field 2) is in parentheses and
// may hold spaces and parentheses itself: fields are counted after the last
// ')'.
func parseProcStat(line string) (procStat, error) {
	var s procStat
	open, end := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
	if open < 1 || end < open {
		return s, errors.New("proc stat: no comm")
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line[:open]))
	if err != nil {
		return s, fmt.Errorf("proc stat: pid: %w", err)
	}
	f := strings.Fields(line[end+1:])
	// f[0] is field 3 (state): field n is f[n-3].
	if len(f) < 22 {
		return s, errors.New("proc stat: short line")
	}
	num := func(n int) int64 {
		v, e := strconv.ParseInt(f[n-3], 10, 64)
		if e != nil && err == nil {
			err = fmt.Errorf("proc stat: field %d: %w", n, e)
		}
		return v
	}
	s.pid = pid
	s.ppid = int(num(4))
	s.ownTicks = num(14) + num(15)
	s.childTicks = num(16) + num(17)
	s.rssPages = num(24)
	return s, err
}

// procTreeSample sums the CPU and RSS of root and its descendants as one
// metric sample (RSS counts shared pages once per process: a Postgres
// cluster's shared buffers are over-counted).
func procTreeSample(procDir string, root int, db string) metricSample {
	s := metricSample{T: time.Now()}
	entries, err := os.ReadDir(procDir)
	if err != nil {
		s.Err = err.Error()
		return s
	}
	stats := map[int]procStat{}
	children := map[int][]int{}
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(procDir, e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		ps, err := parseProcStat(string(b))
		if err != nil {
			continue
		}
		stats[ps.pid] = ps
		children[ps.ppid] = append(children[ps.ppid], ps.pid)
	}
	if _, ok := stats[root]; !ok {
		s.Err = fmt.Sprintf("process %d not found", root)
		return s
	}
	var ticks, pages int64
	todo := []int{root}
	for len(todo) > 0 {
		pid := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		ps := stats[pid]
		if db != "" && pid != root {
			cmd, _ := os.ReadFile(filepath.Join(procDir, strconv.Itoa(pid), "cmdline"))
			if other, ok := pgBackendDB(string(cmd)); ok && other != db {
				continue
			}
		}
		ticks += ps.ownTicks
		if db == "" {
			ticks += ps.childTicks
		}
		pages += ps.rssPages
		todo = append(todo, children[pid]...)
	}
	s.CPU = float64(ticks) / clockTicks
	s.RSS = float64(pages * int64(os.Getpagesize()))
	return s
}

// parseProcTarget splits proc:PID[@DB].
func parseProcTarget(t string) (pid int, db string, err error) {
	spec, db, _ := strings.Cut(strings.TrimPrefix(t, procPrefix), "@")
	pid, err = strconv.Atoi(spec)
	if err != nil || pid < 1 {
		return 0, "", fmt.Errorf("%q: want proc:PID or proc:PID@DATABASE", t)
	}
	return pid, db, nil
}

// pgBackendDB reads the database of a Postgres client backend from its
// process title ("postgres: 15/main: USER DB 127.0.0.1(50888) idle", or
// [local] for a Unix socket); ok is false for the other processes.
func pgBackendDB(cmdline string) (db string, ok bool) {
	f := strings.Fields(strings.ReplaceAll(cmdline, "\x00", " "))
	if len(f) == 0 || f[0] != "postgres:" {
		return "", false
	}
	for i := 2; i < len(f); i++ {
		a := f[i]
		open := strings.IndexByte(a, '(')
		if a == "[local]" || (open > 0 && strings.HasSuffix(a, ")") && isDigits(a[open+1:len(a)-1])) {
			return f[i-1], true
		}
	}
	return "", false
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}
