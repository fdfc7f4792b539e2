package caddymodule

import (
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisTimeouts are what differs between the Redis clients this package
// builds: the chat app's (bus, presence, limits, entity caches) waits
// seconds; a chat_cache storage of its own gives up within tens of
// milliseconds anyway, so a dead Redis must not pile up its dials.
type redisTimeouts struct {
	Dial, Read, Write time.Duration
	// MaxRetries is go-redis's (0: its default, -1: none).
	MaxRetries int
	// DialerRetries is go-redis's (0: its default of five dials, 100 ms
	// apart).
	DialerRetries int
}

var (
	// appRedisTimeouts: one dial per attempt, since go-redis's five go on
	// after the caller gave up and make an outage slower to see
	// (readiness) and to skip (the limits' breaker).
	appRedisTimeouts = redisTimeouts{Dial: 2 * time.Second, Read: time.Second, Write: time.Second, DialerRetries: 1}
	// cacheRedisTimeouts: a chat_cache storage with its own redis URL.
	cacheRedisTimeouts = redisTimeouts{Dial: 200 * time.Millisecond, Read: 100 * time.Millisecond, Write: 100 * time.Millisecond, MaxRetries: -1}
)

// newRedisClient is the one builder of go-redis clients from a redis
// option, without dialing (go-redis dials on first use, so Provision can
// call it): a single URL (redis://host:port/db, or a bare host:port) is one
// server, a comma list of host:port (or URLs) a Redis Cluster. Empty spec:
// nil, nil.
func newRedisClient(spec string, t redisTimeouts) (redis.UniversalClient, error) {
	if spec == "" {
		return nil, nil
	}
	parts := strings.Split(spec, ",")
	if len(parts) == 1 {
		u := spec
		if !strings.Contains(u, "://") {
			u = "redis://" + u
		}
		opt, err := redis.ParseURL(u)
		if err != nil {
			return nil, fmt.Errorf("redis %q: %w", spec, err)
		}
		opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = t.Dial, t.Read, t.Write
		if t.MaxRetries != 0 {
			opt.MaxRetries = t.MaxRetries
		}
		if t.DialerRetries != 0 {
			opt.DialerRetries = t.DialerRetries
		}
		return redis.NewClient(opt), nil
	}
	var addrs []string
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if strings.Contains(p, "://") {
			opt, err := redis.ParseURL(p)
			if err != nil {
				return nil, fmt.Errorf("redis %q: %w", p, err)
			}
			p = opt.Addr
		}
		addrs = append(addrs, p)
	}
	return redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, MaxRetries: t.MaxRetries, DialerRetries: t.DialerRetries,
		DialTimeout: t.Dial, ReadTimeout: t.Read, WriteTimeout: t.Write}), nil
}
