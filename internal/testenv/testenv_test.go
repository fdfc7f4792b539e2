package testenv

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestRedisStopRestart(t *testing.T) {
	r := StartRedis(t)
	c := r.Client()
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	r.Stop()
	if ping(r.Addr()) {
		t.Fatal("stopped redis-server still answers")
	}
	r.Stop() // idempotent
	r.Start()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("after Start: %v", err)
	}
	if v, _ := c.Get(ctx, "k").Result(); v != "" {
		t.Fatalf("data survived a restart: %q", v)
	}
	r.Restart()
	if !ping(r.Addr()) || !strings.HasPrefix(r.URL(), "redis://127.0.0.1:") {
		t.Fatalf("after Restart: %s", r.URL())
	}
}

func TestFreshAndEnsureDB(t *testing.T) {
	const name = "chatgate_test_testenv"
	ctx := context.Background()
	dsn := FreshDB(t, name)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE marker (x int)"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	// EnsureDB keeps what is there; FreshDB does not.
	if EnsureDB(t, name) != dsn {
		t.Fatal("EnsureDB and FreshDB disagree on the URL")
	}
	count := func() int {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'marker'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if count() != 1 {
		t.Fatal("EnsureDB dropped an existing database")
	}
	FreshDB(t, name)
	if count() != 0 {
		t.Fatal("FreshDB kept the old database")
	}
}

func TestProcAndWaitHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	defer srv.Close()
	WaitHTTP(t, srv.URL, 204, time.Second)

	dir := t.TempDir()
	p := Start(t, dir, "sleeper", []string{"X_TESTENV=yes"}, "/bin/sh", "-c", `echo "$X_TESTENV"; exec sleep 60`)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if b, _ := os.ReadFile(p.Log); strings.TrimSpace(string(b)) == "yes" {
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(p.Log)
			t.Fatalf("log %q: env not passed", b)
		}
	}
	p.Signal(syscall.SIGTERM)
	if !p.Wait(5 * time.Second) {
		t.Fatal("SIGTERM: the process did not exit")
	}
	if p.Err() == nil {
		t.Fatal("a process killed by SIGTERM exited cleanly")
	}
	if ModuleRoot(t) == "" {
		t.Fatal("no module root")
	}
}
