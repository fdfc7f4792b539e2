package testenv

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Build builds the main package pkg (relative to the module root, e.g.
// "./cmd/caddy", the gateway) into the test's temporary directory and
// returns the binary's path.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	Run(t, ModuleRoot(t), "go", "build", "-o", bin, pkg)
	return bin
}

// BuildGateway builds ./cmd/caddy, the gateway binary.
func BuildGateway(t testing.TB) string {
	t.Helper()
	return Build(t, "./cmd/caddy")
}

// Run runs a command to completion in dir and fails the test with its
// output when it fails.
func Run(t testing.TB, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, Tail(out, 8000))
	}
}

// Proc is a long-lived process a test started.
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	Log  string // the path of its combined stdout and stderr
	done chan struct{}
	err  error
}

// Start runs bin in dir in its own process group with env added to this
// process's environment (a later entry for a variable wins), HOME and the
// XDG directories under dir, and stdout and stderr in dir/<name>.log. When
// the test ends it sends SIGTERM, then SIGKILL to the group after 10 s (and
// to leftovers such as nginx workers), and logs the log's tail if the test
// failed.
func Start(t testing.TB, dir, name string, env []string, bin string, args ...string) *Proc {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(dir, name+"-home")
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home+"/config", "XDG_DATA_HOME="+home+"/data")
	cmd.Env = append(cmd.Env, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &Proc{Name: name, Cmd: cmd, Log: logPath, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Signal(syscall.SIGTERM)
		if !p.Wait(10 * time.Second) {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("%s log (tail):\n%s", name, Tail(b, 4000))
		}
	})
	return p
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Signal sends sig unless the process has exited.
func (p *Proc) Signal(sig syscall.Signal) {
	select {
	case <-p.done:
	default:
		_ = p.Cmd.Process.Signal(sig)
	}
}

// Wait waits up to d for the process to exit and reports whether it did.
func (p *Proc) Wait(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is how the process exited (cmd.Wait's error); valid once Done.
func (p *Proc) Err() error {
	<-p.done
	return p.err
}

// WaitHTTP polls GET u until it answers status want, failing the test
// after within with the last status or error seen.
func WaitHTTP(t testing.TB, u string, want int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for time.Now().Before(deadline) {
		resp, err := http.Get(u)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: no %d within %v (last: %s)", u, want, within, last)
}
