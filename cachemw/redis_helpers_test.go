package cachemw

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/internal/freeport"
)

// testRedisDB is the machine Redis's database these tests use; every test
// also has its own key prefix, so concurrent packages never collide.
const testRedisDB = 11

func sharedRedis(t testing.TB) redis.UniversalClient {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", DB: testRedisDB})
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("redis on 127.0.0.1:6379: %v", err)
	}
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func testPrefix(t testing.TB) string {
	return fmt.Sprintf("test:cachemw:%s:%d:", t.Name(), time.Now().UnixNano())
}

// ownRedis is a redis-server this test starts on a free port, to stop and
// restart at will (never the machine's Redis on 6379).
type ownRedis struct {
	t    testing.TB
	port int
	cmd  *exec.Cmd
}

func startOwnRedis(t testing.TB) *ownRedis {
	t.Helper()
	r := &ownRedis{t: t, port: freeport.Take(t)}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *ownRedis) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

func (r *ownRedis) start() {
	r.t.Helper()
	r.cmd = exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.t.TempDir())
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", r.addr(), 100*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server on %s did not start: %v", r.addr(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *ownRedis) stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}
