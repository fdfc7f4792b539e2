package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestParseProcStat(t *testing.T) {
	// comm may hold spaces and parentheses: fields count after the last ')'.
	line := "4242 (we (ird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 1 0 100 1000000 300 18446744073709551615\n"
	s, err := parseProcStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if s.pid != 4242 || s.ppid != 1 || s.ownTicks != 250+50 || s.childTicks != 7+3 || s.rssPages != 300 {
		t.Fatalf("%+v", s)
	}
	if _, err := parseProcStat("12 (x) S 1 2"); err == nil {
		t.Fatal("short line accepted")
	}
	for in, want := range map[string]string{
		"postgres: 15/main: postgres chatgate 127.0.0.1(50888) idle": "chatgate",
		"postgres: alice db1 [local] SELECT":                         "db1",
		"postgres: 15/main: walwriter ":                              "",
		"/usr/lib/postgresql/15/bin/postgres -D x":                   "",
	} {
		if db, _ := pgBackendDB(in); db != want {
			t.Errorf("%q: %q, want %q", in, db, want)
		}
	}
}

func TestProcTreeSample(t *testing.T) {
	dir := t.TempDir()
	write := func(pid, ppid, utime, cutime, rss string) {
		d := filepath.Join(dir, pid)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		line := pid + " (postgres) S " + ppid + " 1 1 0 -1 0 0 0 0 0 " + utime + " 0 " + cutime + " 0 20 0 1 0 100 1000 " + rss + " 0\n"
		if err := os.WriteFile(filepath.Join(d, "stat"), []byte(line), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("100", "1", "100", "50", "10") // root; 50 ticks of reaped children
	write("101", "100", "200", "0", "1") // child
	write("102", "101", "300", "0", "1") // grandchild
	write("200", "1", "999", "0", "1")   // not in the tree
	if err := os.MkdirAll(filepath.Join(dir, "self"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := procTreeSample(dir, 100, "")
	if !s.ok() {
		t.Fatal(s.Err)
	}
	if s.CPU != 6.5 { // (100+50+200+300)/100
		t.Fatalf("cpu %v", s.CPU)
	}
	if want := float64(12 * os.Getpagesize()); s.RSS != want {
		t.Fatalf("rss %v, want %v", s.RSS, want)
	}
	if s := procTreeSample(dir, 7, ""); s.ok() {
		t.Fatal("missing process sampled")
	}

	// proc:100@mine: 101 serves mine (its child 102 too), 103 another
	// database: left out, and so are the root's reaped children.
	write("103", "100", "5000", "0", "1")
	cmd := func(pid, c string) {
		if err := os.WriteFile(filepath.Join(dir, pid, "cmdline"), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd("100", "/usr/lib/postgresql/15/bin/postgres\x00-D\x00/var/lib/postgresql/15/main\x00")
	cmd("101", "postgres: 15/main: postgres mine 127.0.0.1(50888) idle\x00\x00\x00")
	cmd("102", "postgres: 15/main: checkpointer \x00")
	cmd("103", "postgres: 15/main: postgres other [local] INSERT\x00")
	if s := procTreeSample(dir, 100, "mine"); s.CPU != 6 { // (100+200+300)/100
		t.Fatalf("filtered cpu %v", s.CPU)
	}
	if s := procTreeSample(dir, 100, ""); s.CPU != 56.5 {
		t.Fatalf("whole tree cpu %v", s.CPU)
	}
}
