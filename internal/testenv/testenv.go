// Package testenv is the shared test infrastructure: private redis-servers
// (alone or as a 3-master cluster) to kill and restart, databases on the
// machine's Postgres, and the gateway binary built and run as a process.
// Private Postgres servers are internal/pgtest's; ports are
// internal/freeport's.
//
// Everything here fails the test it is given and cleans up with t.Cleanup.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Tool returns the path of a command, installing its Debian package
// (never starting a system service) when it is missing: the tests run as
// root in CI. It also looks in /usr/sbin, which a non-root PATH may lack.
func Tool(t testing.TB, bin, pkg string) string {
	t.Helper()
	toolMu.Lock()
	defer toolMu.Unlock()
	find := func() string {
		if p, err := exec.LookPath(bin); err == nil {
			return p
		}
		if p := "/usr/sbin/" + bin; exists(p) {
			return p
		}
		return ""
	}
	if p := find(); p != "" {
		return p
	}
	install := func(args ...string) {
		cmd := exec.Command("apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("apt-get %s: %v\n%s", strings.Join(args, " "), err, Tail(out, 2000))
		}
	}
	t.Logf("%s missing: apt-get install -y %s", bin, pkg)
	install("install", "-y", "--no-install-recommends", pkg)
	if find() == "" {
		install("update")
		install("install", "-y", "--no-install-recommends", pkg)
	}
	p := find()
	if p == "" {
		t.Fatalf("%s is required (apt-get install -y %s, as root)", bin, pkg)
	}
	return p
}

var toolMu sync.Mutex

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// ModuleRoot is the directory of the repository's go.mod, found upwards
// from the test's working directory (its package directory).
func ModuleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if exists(filepath.Join(d, "go.mod")) {
			return d
		}
		if filepath.Dir(d) == d {
			t.Fatalf("no go.mod above %s", dir)
		}
	}
}

// WriteFile writes content to dir/name, creating the directories on the
// way, and returns the path.
func WriteFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Tail is the last n bytes of b, for logs in failure messages.
func Tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
