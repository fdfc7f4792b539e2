// Package pgtest runs private, throwaway Postgres servers for tests that
// must stop, restart or replicate one: initdb into a temporary directory,
// trust auth, a free port on 127.0.0.1, never the machine's own cluster.
package pgtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
)

// BinDir holds the Postgres 15 server binaries.
const BinDir = "/usr/lib/postgresql/15/bin"

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Cmd runs a Postgres binary from BinDir as the postgres OS user when the
// test runs as root (the server refuses to run as root), else as the current
// user, and fails the test when it fails.
func Cmd(t testing.TB, bin string, args ...string) {
	t.Helper()
	if out, err := command(bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", bin, args, err, out)
	}
}

func command(bin string, args ...string) *exec.Cmd {
	path := filepath.Join(BinDir, bin)
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

// AppendConf appends lines to dataDir's postgresql.conf.
func AppendConf(t testing.TB, dataDir, conf string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dataDir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("\n" + conf + "\n"); err != nil {
		t.Fatal(err)
	}
}

// Dir makes a temporary directory the server user can write (t.TempDir's
// parent is private to root), removed when the test ends.
func Dir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "chatgate-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		pg, err := user.Lookup("postgres")
		if err != nil {
			t.Fatal(err)
		}
		uid, _ := strconv.Atoi(pg.Uid)
		gid, _ := strconv.Atoi(pg.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Server is one private Postgres server.
type Server struct {
	t       testing.TB
	DataDir string
	Port    int
	log     string
}

// Start initdb's a cluster (superuser postgres, trust auth, UTF8, C locale,
// fsync off) in a fresh Dir, appends conf to its postgresql.conf, starts it
// on a free port and stops it when the test ends.
func Start(t testing.TB, conf ...string) *Server {
	t.Helper()
	dir := Dir(t)
	data := filepath.Join(dir, "data")
	Cmd(t, "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
	AppendConf(t, data, fmt.Sprintf("unix_socket_directories = '%s'\nfsync = off", dir))
	for _, c := range conf {
		AppendConf(t, data, c)
	}
	return Run(t, data)
}

// Run starts the existing cluster in dataDir (a base backup, say) on a free
// port, with its log next to it, and stops it when the test ends.
func Run(t testing.TB, dataDir string) *Server {
	t.Helper()
	s := &Server{t: t, DataDir: dataDir, Port: FreePort(t), log: dataDir + ".log"}
	AppendConf(t, dataDir, fmt.Sprintf("listen_addresses = '127.0.0.1'\nport = %d", s.Port))
	s.Start()
	t.Cleanup(func() {
		if s.Running() {
			_ = command("pg_ctl", "-D", s.DataDir, "-m", "immediate", "-w", "stop").Run()
		}
	})
	return s
}

// DSN is the URL of database db on the server (Migrate creates it).
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, db)
}

// Start starts the (stopped) server and waits until it accepts connections.
func (s *Server) Start() {
	s.t.Helper()
	Cmd(s.t, "pg_ctl", "-D", s.DataDir, "-l", s.log, "-w", "-t", "30", "start")
}

// Stop stops the server with pg_ctl's shutdown mode: "smart", "fast"
// (sessions are terminated) or "immediate" (like a crash), and waits.
func (s *Server) Stop(mode string) {
	s.t.Helper()
	Cmd(s.t, "pg_ctl", "-D", s.DataDir, "-m", mode, "-w", "stop")
}

// Restart stops the server with mode and starts it again.
func (s *Server) Restart(mode string) {
	s.t.Helper()
	s.Stop(mode)
	s.Start()
}

// Running reports whether the server's postmaster.pid exists.
func (s *Server) Running() bool {
	_, err := os.Stat(filepath.Join(s.DataDir, "postmaster.pid"))
	return err == nil
}
