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
const procPrefix = "proc:"

func isProcTarget(t string) bool { return strings.HasPrefix(t, procPrefix) }

// clockTicks is USER_HZ, the unit of the CPU times in /proc/PID/stat: 100
// on every Linux architecture Go supports.
const clockTicks = 100

// procStat is what the generator reads from one /proc/PID/stat.
type procStat struct {
	pid, ppid int
	// cpuTicks: utime + stime + cutime + cstime. The children's times
	// count the descendants that exited and were reaped (Postgres
	// backends that ended), so the tree's total never goes back.
	cpuTicks int64
	rssPages int64
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
	s.cpuTicks = num(14) + num(15) + num(16) + num(17)
	s.rssPages = num(24)
	return s, err
}

// procTreeSample sums the CPU and RSS of root and its descendants as one
// metric sample (RSS counts shared pages once per process: a Postgres
// cluster's shared buffers are over-counted).
func procTreeSample(procDir string, root int) metricSample {
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
		ticks += ps.cpuTicks
		pages += ps.rssPages
		todo = append(todo, children[pid]...)
	}
	s.CPU = float64(ticks) / clockTicks
	s.RSS = float64(pages * int64(os.Getpagesize()))
	return s
}

// procTargetPID is the PID of a proc:PID target.
func procTargetPID(t string) int {
	pid, _ := strconv.Atoi(strings.TrimPrefix(t, procPrefix))
	return pid
}
