// Package limits counts requests and connections per key (a user, a client
// address, an account) across every instance through Redis, and on this
// instance alone while Redis is absent or down: a limit must never be the
// reason the chat stops.
package limits

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"

	"github.com/chatgate/chatgate/chatcore/breaker"
)

// Rate is a token bucket: PerSecond tokens refill each second, up to Burst.
// A zero or negative PerSecond turns the limit off.
type Rate struct {
	PerSecond float64 `json:"per_second,omitempty"`
	Burst     int     `json:"burst,omitempty"`
}

// Off reports whether the rate limits nothing.
func (r Rate) Off() bool { return r.PerSecond <= 0 }

func (r Rate) String() string {
	if r.Off() {
		return "off"
	}
	return fmt.Sprintf("%g/s burst %d", r.PerSecond, r.burst())
}

func (r Rate) burst() int {
	if r.Burst > 0 {
		return r.Burst
	}
	return max(1, int(math.Ceil(r.PerSecond)))
}

// redisTimeout bounds one limiter round trip: past it the local bucket
// decides, so a slow Redis adds at most this much to a request.
const redisTimeout = 50 * time.Millisecond

// newBreaker skips Redis for a second after two failures in a row: a limit
// sits on every request and frame, which must not each wait out the
// timeout while Redis is down.
func newBreaker() *breaker.Breaker { return &breaker.Breaker{Threshold: 2, Cooldown: time.Second} }

// localCap bounds the local buckets kept; past it they are dropped, which
// forgives at most one burst per key.
const localCap = 1 << 16

// Limiter is a set of token buckets by key. With Redis the buckets are
// shared by every instance (GCRA in one Lua call, redis_rate); without it,
// or when a call fails, each instance keeps its own.
type Limiter struct {
	rdb     *redis_rate.Limiter
	prefix  string
	onError func(error)
	br      *breaker.Breaker

	mu    sync.Mutex
	local map[string]*rate.Limiter
}

// NewLimiter returns a Limiter; rdb may be nil. prefix namespaces its keys
// in Redis; onError (may be nil) hears about failed Redis calls.
func NewLimiter(rdb redis.UniversalClient, prefix string, onError func(error)) *Limiter {
	l := &Limiter{prefix: prefix, onError: onError, br: newBreaker(), local: make(map[string]*rate.Limiter)}
	if rdb != nil {
		l.rdb = redis_rate.NewLimiter(rdb)
	}
	return l
}

// Allow takes one token from key's bucket. When it is refused, retry says
// when a token will be there.
func (l *Limiter) Allow(ctx context.Context, key string, r Rate) (ok bool, retry time.Duration) {
	if l == nil || r.Off() {
		return true, 0
	}
	if l.rdb != nil && l.br.Allow() {
		ctx, cancel := context.WithTimeout(ctx, redisTimeout)
		defer cancel()
		// Rate 1 per period 1/PerSecond is the same emission interval as
		// PerSecond per second, and allows fractional rates.
		res, err := l.rdb.Allow(ctx, l.prefix+key, redis_rate.Limit{
			Rate: 1, Period: time.Duration(float64(time.Second) / r.PerSecond), Burst: r.burst()})
		l.br.Done(err)
		if err == nil {
			return res.Allowed > 0, max(res.RetryAfter, 0)
		}
		if l.onError != nil {
			l.onError(err)
		}
	}
	return l.allowLocal(key, r)
}

// Peek reports whether key's bucket holds a token, without taking one:
// for limits that count only some outcomes (failed logins), checked before
// the work and charged after it with Allow.
func (l *Limiter) Peek(ctx context.Context, key string, r Rate) (ok bool, retry time.Duration) {
	if l == nil || r.Off() {
		return true, 0
	}
	if l.rdb != nil && l.br.Allow() {
		ctx, cancel := context.WithTimeout(ctx, redisTimeout)
		defer cancel()
		interval := time.Duration(float64(time.Second) / r.PerSecond)
		// A cost of 0 moves nothing; Remaining is the whole tokens left and
		// ResetAfter how long until the bucket is full again.
		res, err := l.rdb.AllowN(ctx, l.prefix+key, redis_rate.Limit{Rate: 1, Period: interval, Burst: r.burst()}, 0)
		l.br.Done(err)
		if err == nil {
			if res.Remaining >= 1 {
				return true, 0
			}
			return false, max(res.ResetAfter-time.Duration(r.burst()-1)*interval, time.Millisecond)
		}
		if l.onError != nil {
			l.onError(err)
		}
	}
	l.mu.Lock()
	b := l.local[key]
	l.mu.Unlock()
	if b == nil {
		return true, 0
	}
	if tokens := b.Tokens(); tokens < 1 {
		return false, time.Duration((1 - tokens) / r.PerSecond * float64(time.Second))
	}
	return true, 0
}

func (l *Limiter) allowLocal(key string, r Rate) (bool, time.Duration) {
	l.mu.Lock()
	b := l.local[key]
	if b == nil {
		if len(l.local) >= localCap {
			clear(l.local)
		}
		b = rate.NewLimiter(rate.Limit(r.PerSecond), r.burst())
		l.local[key] = b
	}
	l.mu.Unlock()
	res := b.Reserve()
	if d := res.Delay(); d > 0 {
		res.Cancel()
		return false, d
	}
	return true, 0
}

// ParseRate reads "<n>/s", "<n>/m", "<n>/h" or a bare per-second number;
// "off" or a negative number turns the limit off (PerSecond -1).
func ParseRate(s string) (Rate, error) {
	if s == "off" {
		return Rate{PerSecond: -1}, nil
	}
	num, unit, hasUnit := strings.Cut(s, "/")
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
		return Rate{}, fmt.Errorf("limits: rate %q: want <n>/s, <n>/m, <n>/h or off", s)
	}
	if n < 0 {
		return Rate{PerSecond: -1}, nil
	}
	if n == 0 {
		return Rate{}, fmt.Errorf("limits: rate %q: zero allows nothing; use off to disable", s)
	}
	if hasUnit {
		switch unit {
		case "s":
		case "m":
			n /= 60
		case "h":
			n /= 3600
		default:
			return Rate{}, fmt.Errorf("limits: rate %q: unit must be s, m or h", s)
		}
	}
	return Rate{PerSecond: n}, nil
}
