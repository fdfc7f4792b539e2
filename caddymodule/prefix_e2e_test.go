package caddymodule_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/chatcore/gateway"
	"github.com/chatgate/chatgate/internal/testenv"
)

// deploymentCaddyfile is one deployment on the shared Redis: the shipped
// response-cache blocks, and a tight per-address sign-in limit (3 at once).
// redis_prefix is left to its default, derived from the database.
func deploymentCaddyfile(t testing.TB, s *server, dsn, secret string, redisPort int) string {
	return fmt.Sprintf(`{
	admin 127.0.0.1:%d
	chat {
		postgres %s
		redis redis://127.0.0.1:%d/0
		secret %s
		password_memory_kib 1024
		password_time 1
	}
}
http://:%d {
	@chat path /api /api/* /ws /healthz /readyz
	handle @chat {
%s
		chat {
			auth_ip_rate 1/h 3
			login_account_rate off
			ip_request_rate off
			user_request_rate off
			ip_connect_rate off
			ip_conns -1
			user_send_rate -1
		}
	}
}
`, s.admin, dsn, redisPort, secret, s.port, shippedCacheBlocks(t))
}

// TestDeploymentsShareRedis runs two deployments, each on a database of
// its own, on one Redis: A in this process, B in the real binary. Ids
// coincide (user 1, room 1 in both); nothing of one may reach the other,
// and every key and channel in Redis carries one of their prefixes.
func TestDeploymentsShareRedis(t *testing.T) {
	rs := testenv.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()

	dsnA, dsnB := testenv.FreshDB(t, "chatgate_test_prefix_a"), testenv.FreshDB(t, "chatgate_test_prefix_b")
	prefixA, err := gateway.DefaultRedisPrefix(dsnA)
	if err != nil {
		t.Fatal(err)
	}
	prefixB, err := gateway.DefaultRedisPrefix(dsnB)
	if err != nil {
		t.Fatal(err)
	}
	if prefixA == prefixB || strings.HasPrefix(prefixA, prefixB) || strings.HasPrefix(prefixB, prefixA) {
		t.Fatalf("prefixes %q and %q overlap", prefixA, prefixB)
	}

	bin := testenv.BuildGateway(t)
	a := newServer(t)
	a.start(t, deploymentCaddyfile(t, a, dsnA, testSecret, rs.Port))
	b := newServer(t)
	cfgB := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(cfgB, []byte(deploymentCaddyfile(t, b, dsnB, testSecret+"-b", rs.Port)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", cfgB, "--adapter", "caddyfile")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitReady(t, b.base)

	ann, bob := a.register(t, "AnnOfA"), b.register(t, "BobOfB")
	if ann.id != 1 || bob.id != 1 {
		t.Fatalf("ids %d and %d, want 1 in each fresh database", ann.id, bob.id)
	}

	// Profiles: each deployment serves its own user 1, however often and
	// in whatever order they are read (entity caches, response caches).
	name := func(c *client, path string) string {
		t.Helper()
		r := c.call(t, "GET", path, nil)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", path, r.status, r.body)
		}
		var u struct{ Name string }
		r.decode(t, &u)
		return u.Name
	}
	for i := 0; i < 3; i++ {
		for _, path := range []string{"/api/users/1", "/api/me"} {
			if got := name(ann, path); got != "AnnOfA" {
				t.Fatalf("A's %s: %q", path, got)
			}
			if got := name(bob, path); got != "BobOfB" {
				t.Fatalf("B's %s: %q, deployment A's user", path, got)
			}
		}
	}

	// Rooms: room 1 in each. A's messages never reach B's subscriber.
	if ra, rb := ann.createRoom(t, "a-room", false), bob.createRoom(t, "b-room", false); ra != 1 || rb != 1 {
		t.Fatalf("rooms %d and %d, want 1 in each", ra, rb)
	}
	wb := bob.dial(t)
	defer wb.close()
	wb.subscribe(t, 1, nil)
	wa := ann.dial(t)
	defer wa.close()
	wa.subscribe(t, 1, nil)
	for i := 0; i < 3; i++ {
		if r := ann.call(t, "POST", "/api/rooms/1/messages", map[string]string{"body": "secret of A", "cid": fmt.Sprint("a", i)}); r.status != 201 {
			t.Fatalf("A post: %d %s", r.status, r.body)
		}
	}
	for i := 0; i < 3; i++ {
		if e := wa.next(t, "message"); e.Body != "secret of A" {
			t.Fatalf("A's subscriber got %+v", e)
		}
	}
	// The bus publishes after the commit, off the request: give it time to
	// reach Redis before B's marker.
	time.Sleep(500 * time.Millisecond)
	if r := bob.call(t, "POST", "/api/rooms/1/messages", map[string]string{"body": "marker of B", "cid": "b0"}); r.status != 201 {
		t.Fatalf("B post: %d %s", r.status, r.body)
	}
	if e := wb.next(t, "message"); e.Body != "marker of B" || e.Seq != 1 {
		t.Fatalf("B's subscriber got %+v, want only B's own message", e)
	}

	// Rate limits: A spends its address's sign-in burst (Ann was one of
	// three); B's bucket for the same address is untouched by that.
	for i := 0; i < 2; i++ {
		a.register(t, fmt.Sprint("MoreA", i))
	}
	if r := a.call(t, "POST", "/api/auth/register", "", map[string]string{"name": "Over", "email": "over.a@example.test", "password": "password-over"}); r.status != http.StatusTooManyRequests {
		t.Fatalf("A's fourth sign-in: %d, want 429", r.status)
	}
	b.register(t, "MoreB")

	// Every key and channel is under one of the prefixes, and each
	// deployment used its prefix for every kind of state.
	under := func(what, k string) {
		if !strings.HasPrefix(k, prefixA) && !strings.HasPrefix(k, prefixB) {
			t.Errorf("%s %q is under neither %q nor %q", what, k, prefixA, prefixB)
		}
	}
	var keys []string
	iter := rdb.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
		under("key", iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	chans, err := rdb.PubSubChannels(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range chans {
		under("channel", c)
	}
	for _, p := range []string{prefixA, prefixB} {
		for _, kind := range []string{"entity:v1:user:1", "http:e:", "http:t:", "rl:", "presence:{1}", "presence:instances"} {
			if !hasPrefix(keys, p+kind) {
				t.Errorf("no key %s%s* in %q", p, kind, keys)
			}
		}
		for _, kind := range []string{"{p0}:room:1", "entity:v1:invalidate"} {
			if !hasPrefix(chans, p+kind) {
				t.Errorf("no channel %s%s in %q", p, kind, chans)
			}
		}
	}
}

func hasPrefix(list []string, p string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
