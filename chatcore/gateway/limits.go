package gateway

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// userLimiter caps a user's sends per second across all their connections
// and, with Redis, across every instance: a per-connection bucket alone
// lets one user multiply their rate by opening more sockets. It counts in
// one-second windows (INCR + EXPIRE, one pipelined round trip) and fails
// open: a Redis outage must not stop the chat.
type userLimiter struct {
	rate int
	rdb  redis.UniversalClient

	mu    sync.Mutex
	local map[int64]window
}

type window struct {
	sec   int64
	count int
}

const localLimiterCap = 1 << 16

func newUserLimiter(rate int, rdb redis.UniversalClient) *userLimiter {
	return &userLimiter{rate: rate, rdb: rdb, local: make(map[int64]window)}
}

// allow counts one send by user and reports whether it is within the rate.
func (l *userLimiter) allow(ctx context.Context, user int64) bool {
	if l == nil || l.rate <= 0 {
		return true
	}
	sec := time.Now().Unix()
	if l.rdb == nil {
		l.mu.Lock()
		defer l.mu.Unlock()
		w := l.local[user]
		if w.sec != sec {
			if len(l.local) >= localLimiterCap {
				clear(l.local) // old windows only: nothing of value is lost
			}
			w = window{sec: sec}
		}
		w.count++
		l.local[user] = w
		return w.count <= l.rate
	}
	ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	key := "chatgate:rl:send:{" + strconv.FormatInt(user, 10) + "}:" + strconv.FormatInt(sec, 10)
	var incr *redis.IntCmd
	_, err := l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		incr = p.Incr(ctx, key)
		p.Expire(ctx, key, 2*time.Second)
		return nil
	})
	if err != nil {
		return true
	}
	return incr.Val() <= int64(l.rate)
}
