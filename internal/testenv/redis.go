package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/internal/freeport"
)

// Redis is a redis-server of the test's own on a free port of 127.0.0.1:
// no persistence, killed when the test ends, and Stop/Start/Restart at will
// (the port stays the same, the data does not). Pub/sub ignores the db
// number and a kill takes down every client, so tests that publish or
// kill use one of these rather than the machine's Redis on 6379.
type Redis struct {
	t    testing.TB
	Port int
	dir  string
	args []string
	bin  string

	mu  sync.Mutex
	cmd *exec.Cmd
	log *os.File
}

// StartRedis starts a private redis-server; extra are more redis-server
// arguments (e.g. "--cluster-enabled", "yes").
func StartRedis(t testing.TB, extra ...string) *Redis {
	t.Helper()
	dir, err := os.MkdirTemp("", "chatgate-redis-")
	if err != nil {
		t.Fatal(err)
	}
	r := &Redis{t: t, Port: freeport.Take(t), dir: dir, args: extra, bin: Tool(t, "redis-server", "redis-server")}
	t.Cleanup(func() {
		r.Stop()
		os.RemoveAll(dir)
	})
	r.Start()
	return r
}

// Addr is host:port.
func (r *Redis) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.Port) }

// URL is redis://host:port/0, as CHATGATE_REDIS and the Caddyfile take it.
func (r *Redis) URL() string { return "redis://" + r.Addr() + "/0" }

// Client is a go-redis client of this server, closed when the test ends.
func (r *Redis) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: r.Addr()})
	r.t.Cleanup(func() { c.Close() })
	return c
}

// Start starts the (stopped) server and waits until it answers PING.
func (r *Redis) Start() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		r.t.Fatalf("redis-server on %d: started twice", r.Port)
	}
	log, err := os.OpenFile(filepath.Join(r.dir, "redis.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		r.t.Fatal(err)
	}
	args := append([]string{"--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", r.dir}, r.args...)
	cmd := exec.Command(r.bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		r.t.Fatalf("redis-server: %v", err)
	}
	r.cmd, r.log = cmd, log
	deadline := time.Now().Add(10 * time.Second)
	for !ping(r.Addr()) {
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(log.Name())
			r.t.Fatalf("redis-server on %d did not answer PING:\n%s", r.Port, Tail(b, 2000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the server (SIGKILL: clients see their connections drop) and
// waits for it to exit. Stopping a stopped server does nothing.
func (r *Redis) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.log.Close()
	r.cmd, r.log = nil, nil
}

// Restart stops the server and starts it again on the same port.
func (r *Redis) Restart() {
	r.t.Helper()
	r.Stop()
	r.Start()
}

// ping reports whether a Redis answers PING on addr.
func ping(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	buf := make([]byte, 16)
	n, _ := c.Read(buf)
	return strings.HasPrefix(string(buf[:n]), "+PONG")
}

// RedisCluster is a local Redis Cluster of private servers.
type RedisCluster struct {
	Nodes []*Redis
}

// StartRedisCluster starts masters cluster-enabled redis-servers, joins
// them with `redis-cli --cluster create` (no replicas) and waits until the
// cluster reports cluster_state:ok.
func StartRedisCluster(t testing.TB, masters int) *RedisCluster {
	t.Helper()
	return StartRedisClusterReplicas(t, masters, 0)
}

// StartRedisClusterReplicas is StartRedisCluster with replicas replicas per
// master (masters × (1 + replicas) servers; redis-cli makes the first
// masters of Nodes the masters), and waits as well until every replica's
// link to its master is up, so that a killed master fails over. The node
// timeout is 2 s: a dead master is replaced within a few seconds.
func StartRedisClusterReplicas(t testing.TB, masters, replicas int) *RedisCluster {
	t.Helper()
	cli := Tool(t, "redis-cli", "redis-tools")
	rc := &RedisCluster{}
	for i := 0; i < masters*(1+replicas); i++ {
		rc.Nodes = append(rc.Nodes, StartRedis(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000"))
	}
	args := append(append([]string{"--cluster", "create"}, rc.Addrs()...), "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	ctx := context.Background()
	for i := 0; ; i++ {
		ready, why := true, ""
		for _, n := range rc.Nodes {
			c := redis.NewClient(&redis.Options{Addr: n.Addr(), DialTimeout: time.Second})
			info, err := c.ClusterInfo(ctx).Result()
			repl, err2 := c.Info(ctx, "replication").Result()
			nodes, err3 := c.ClusterNodes(ctx).Result()
			c.Close()
			switch {
			case err != nil || err2 != nil || err3 != nil:
				ready, why = false, fmt.Sprint(n.Addr(), ": ", err, err2, err3)
			case strings.Count(nodes, "slave") != masters*replicas:
				// Every node knows every replica (gossip): CLUSTER SLOTS
				// lists them, and the masters can vote for them.
				ready, why = false, n.Addr()+": "+nodes
			case !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_slots_ok:16384"):
				ready, why = false, n.Addr()+": "+info
			case strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up"):
				ready, why = false, n.Addr()+": "+repl
			}
		}
		if ready {
			return rc
		}
		if i > 200 {
			t.Fatalf("redis cluster not ready: %s", why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Node is the node listening on addr (host:port), or nil.
func (rc *RedisCluster) Node(addr string) *Redis {
	for _, n := range rc.Nodes {
		if n.Addr() == addr {
			return n
		}
	}
	return nil
}

// MasterOf returns the node serving key's hash slot as its master and that
// master's replicas, as CLUSTER NODES reports them now.
func (rc *RedisCluster) MasterOf(t testing.TB, key string) (master *Redis, replicas []*Redis) {
	t.Helper()
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: rc.Nodes[0].Addr(), DialTimeout: time.Second})
	defer c.Close()
	slot, err := c.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := c.ClusterNodes(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	// <id> <ip:port@cport> <flags> <master id or -> <ping> <pong> <epoch> <link> <slot ranges>...
	var lines [][]string
	for _, l := range strings.Split(strings.TrimSpace(nodes), "\n") {
		lines = append(lines, strings.Fields(l))
	}
	addr := func(f []string) string { return strings.SplitN(f[1], "@", 2)[0] }
	masterID := ""
	for _, f := range lines {
		for _, r := range f[min(8, len(f)):] {
			lo, hi, ok := strings.Cut(r, "-")
			if !ok {
				hi = lo
			}
			a, err1 := strconv.ParseInt(lo, 10, 64)
			b, err2 := strconv.ParseInt(hi, 10, 64)
			if err1 == nil && err2 == nil && a <= slot && slot <= b && strings.Contains(f[2], "master") {
				masterID, master = f[0], rc.Node(addr(f))
			}
		}
	}
	if master == nil {
		t.Fatalf("no node serves slot %d of %q:\n%s", slot, key, nodes)
	}
	for _, f := range lines {
		if len(f) > 3 && f[3] == masterID && strings.Contains(f[2], "slave") {
			if r := rc.Node(addr(f)); r != nil {
				replicas = append(replicas, r)
			}
		}
	}
	return master, replicas
}

// WaitMaster waits (up to timeout) until node n answers ROLE as a master
// and reports cluster_state:ok with every slot served, and returns when
// it saw that.
func (rc *RedisCluster) WaitMaster(t testing.TB, n *Redis, timeout time.Duration) time.Time {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: n.Addr(), DialTimeout: time.Second})
	defer c.Close()
	ctx := context.Background()
	deadline := time.Now().Add(timeout)
	for {
		role, err := c.Do(ctx, "ROLE").Slice()
		info, _ := c.ClusterInfo(ctx).Result()
		if err == nil && len(role) > 0 && role[0] == "master" &&
			strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_slots_ok:16384") {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is not a master of a healthy cluster after %v: %v %v\n%s", n.Addr(), timeout, role, err, info)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Addrs are the nodes' host:port.
func (rc *RedisCluster) Addrs() []string {
	var out []string
	for _, n := range rc.Nodes {
		out = append(out, n.Addr())
	}
	return out
}

// String lists the nodes.
func (rc *RedisCluster) String() string { return fmt.Sprint(rc.Addrs()) }
