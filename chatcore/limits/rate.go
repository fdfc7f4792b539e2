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

// gcraScript takes one token from the bucket at KEYS[1] (GCRA: the key
// holds the theoretical arrival time, in microseconds since the Unix epoch
// on Redis's clock). ARGV[1] is the emission interval and ARGV[2] the
// burst, in microseconds and tokens; ARGV[3] = "peek" only looks (a token
// is there) and takes nothing. It answers {1, 0} when allowed, else
// {0, microseconds until a token is there}.
//
// It replaces redis_rate, which puts its own "rate:" before every key: a
// deployment's keys must all start with its prefix, so that deployments
// sharing a Redis can be told apart and listed (redis_prefix).
var gcraScript = redis.NewScript(`
local key, interval, burst = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', key) or 0)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if allow_at > now then
	return {0, allow_at - now}
end
if ARGV[3] == 'peek' then
	return {1, 0}
end
-- %.0f, not tostring: Lua's %.14g would round microseconds since 1970.
redis.call('SET', key, string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return {1, 0}
`)

// Limiter is a set of token buckets by key. With Redis the buckets are
// shared by every instance (GCRA in one Lua call, gcraScript); without it,
// or when a call fails, each instance keeps its own.
type Limiter struct {
	rdb     redis.UniversalClient
	prefix  string
	onError func(error)
	br      *breaker.Breaker

	mu    sync.Mutex
	local map[string]*rate.Limiter
}

// NewLimiter returns a Limiter; rdb may be nil. prefix namespaces its keys
// in Redis; onError (may be nil) hears about failed Redis calls.
func NewLimiter(rdb redis.UniversalClient, prefix string, onError func(error)) *Limiter {
	return &Limiter{rdb: rdb, prefix: prefix, onError: onError, br: newBreaker(), local: make(map[string]*rate.Limiter)}
}

// Allow takes one token from key's bucket. When it is refused, retry says
// when a token will be there.
func (l *Limiter) Allow(ctx context.Context, key string, r Rate) (ok bool, retry time.Duration) {
	if l == nil || r.Off() {
		return true, 0
	}
	if ok, retry, done := l.shared(ctx, key, r, "take"); done {
		return ok, retry
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
	if ok, retry, done := l.shared(ctx, key, r, "peek"); done {
		return ok, retry
	}
	return l.peekLocal(key, r)
}

// shared asks the bucket in Redis (mode "take" or "peek"); done is false
// when there is no Redis or it failed, and the local bucket must decide.
func (l *Limiter) shared(ctx context.Context, key string, r Rate, mode string) (ok bool, retry time.Duration, done bool) {
	if l.rdb == nil || !l.br.Allow() {
		return false, 0, false
	}
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	// One token per emission interval of 1/PerSecond allows fractional
	// rates.
	interval := max(int64(float64(time.Second/time.Microsecond)/r.PerSecond), 1)
	res, err := gcraScript.Run(ctx, l.rdb, []string{l.prefix + key}, interval, r.burst(), mode).Int64Slice()
	if err == nil && len(res) != 2 {
		err = fmt.Errorf("limits: rate script answered %v", res)
	}
	l.br.Done(err)
	if err != nil {
		if l.onError != nil {
			l.onError(err)
		}
		return false, 0, false
	}
	return res[0] == 1, time.Duration(max(res[1], 0)) * time.Microsecond, true
}

func (l *Limiter) peekLocal(key string, r Rate) (bool, time.Duration) {
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
// "off" turns the limit off (PerSecond -1); so does a negative number, an
// older spelling kept for compatibility.
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
