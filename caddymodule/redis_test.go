package caddymodule

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestNewRedisClient: the one builder of the chat app's and chat_cache's
// clients: a URL or host:port is one server, a comma list a cluster, each
// with its use's timeouts; nothing dials.
func TestNewRedisClient(t *testing.T) {
	if c, err := newRedisClient("", appRedisTimeouts); c != nil || err != nil {
		t.Fatalf("empty: %v %v", c, err)
	}
	c, err := newRedisClient("127.0.0.1:1/2", appRedisTimeouts)
	if err != nil {
		t.Fatal(err)
	}
	o := c.(*redis.Client).Options()
	if o.Addr != "127.0.0.1:1" || o.DB != 2 || o.DialTimeout != 2*time.Second || o.ReadTimeout != time.Second || o.DialerRetries != 1 {
		t.Fatalf("app client options %+v", o)
	}
	c.Close()
	c, err = newRedisClient("redis://127.0.0.1:1", cacheRedisTimeouts)
	if err != nil {
		t.Fatal(err)
	}
	o = c.(*redis.Client).Options()
	if o.DialTimeout != 200*time.Millisecond || o.WriteTimeout != 100*time.Millisecond || o.MaxRetries != 0 { // -1 given: none
		t.Fatalf("cache client options %+v", o)
	}
	c.Close()
	c, err = newRedisClient("127.0.0.1:1, redis://127.0.0.1:2", appRedisTimeouts)
	if err != nil {
		t.Fatal(err)
	}
	co := c.(*redis.ClusterClient).Options()
	if len(co.Addrs) != 2 || co.Addrs[1] != "127.0.0.1:2" || co.DialerRetries != 1 || co.DialTimeout != 2*time.Second {
		t.Fatalf("cluster options %+v", co)
	}
	c.Close()
	if _, err := newRedisClient("redis://[::1", appRedisTimeouts); err == nil {
		t.Fatal("a bad URL accepted")
	}
}
