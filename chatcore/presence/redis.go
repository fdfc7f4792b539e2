package presence

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// RedisConfig configures the presence of one of many instances.
type RedisConfig struct {
	Client redis.UniversalClient
	// Prefix starts every key: the deployment's Redis prefix.
	Prefix string
	// Instance names this instance's entries; unique per process (the
	// bus's instance id).
	Instance string
	Hub      Hub
	Bus      Publisher
	Logger   *zap.Logger
	// Beat and DeadAfter: the heartbeat period, and how long after its last
	// beat an instance is reaped (DefaultBeat, DefaultDeadAfter).
	Beat, DeadAfter time.Duration
}

// Redis is the presence of one of many instances. Each instance keeps its
// own users in a per-room sorted set, member "user:instance", scored by an
// expiry it refreshes every Refresh, and pushes a change on the bus; an
// "offline" goes out only when no other instance still holds the user. An
// instance that dies says nothing, so the survivors notice its missing
// heartbeat and push the "offline"s for it (reap.go); the entries' own
// expiry, TTL, is the backstop.
type Redis struct {
	cfg RedisConfig
	rdb redis.UniversalClient
	log *zap.Logger

	mu      sync.Mutex
	started bool
	stopped bool
	stop    chan struct{}
	done    chan struct{}

	beaten bool // a heartbeat has been written (the loop's own)
}

// NewRedis returns the Redis presence; it does no I/O and starts nothing
// until Start, though Changed and Online work before it.
func NewRedis(cfg RedisConfig) (*Redis, error) {
	if cfg.Client == nil || cfg.Hub == nil || cfg.Bus == nil {
		return nil, errors.New("presence: the Redis presence needs a client, a hub and a bus")
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Beat <= 0 {
		cfg.Beat = DefaultBeat
	}
	if cfg.DeadAfter <= 0 {
		cfg.DeadAfter = DefaultDeadAfter
	}
	return &Redis{cfg: cfg, rdb: cfg.Client, log: cfg.Logger, stop: make(chan struct{}), done: make(chan struct{})}, nil
}

// Start starts the heartbeat: every Beat it beats, reaps dead instances
// and, every Refresh, rewrites this instance's entries.
func (p *Redis) Start(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started || p.stopped {
		return nil
	}
	p.started = true
	go p.loop()
	return nil
}

// Stop ends the heartbeat and, if it ran, takes this instance out at once
// rather than after DeadAfter. A Redis presence never started does no I/O
// here either (`caddy validate` builds one and stops it).
func (p *Redis) Stop(ctx context.Context) error {
	p.mu.Lock()
	started := p.started
	if p.stopped {
		p.mu.Unlock()
		return nil
	}
	p.stopped = true
	p.mu.Unlock()
	if !started {
		return nil
	}
	close(p.stop)
	<-p.done
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	p.leave(ctx)
	return nil
}

// key is the room's sorted set: <prefix>presence:{<room>}.
func (p *Redis) key(room int64) string {
	return p.cfg.Prefix + "presence:{" + strconv.FormatInt(room, 10) + "}"
}

func (p *Redis) member(user int64) string {
	return strconv.FormatInt(user, 10) + ":" + p.cfg.Instance
}

// Changed records the change in Redis; an "offline" is pushed only when
// no other instance holds the user.
func (p *Redis) Changed(room, user int64, online bool) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	key := p.key(room)
	if online {
		exp := float64(time.Now().Add(TTL).UnixMilli())
		rooms := p.roomsKey(p.cfg.Instance)
		if _, err := p.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
			pipe.ZAdd(ctx, key, redis.Z{Score: exp, Member: p.member(user)})
			pipe.Expire(ctx, key, TTL)
			// Where a reaper looks if this instance dies.
			pipe.SAdd(ctx, rooms, room)
			pipe.Expire(ctx, rooms, 2*TTL)
			return nil
		}); err != nil {
			p.log.Debug("presence: add", zap.Error(err))
		}
	} else {
		_ = p.rdb.ZRem(ctx, key, p.member(user)).Err()
		if p.onlineElsewhere(ctx, room, user) {
			return
		}
	}
	p.push(ctx, room, user, online)
}

// push tells the room's subscribers here and on the other instances.
func (p *Redis) push(ctx context.Context, room, user int64, online bool) {
	p.cfg.Hub.Presence(room, user, online)
	if err := p.cfg.Bus.PublishPresence(ctx, room, user, online); err != nil {
		p.log.Debug("presence: publish", zap.Error(err))
	}
}

// onlineElsewhere reports whether an instance other than this one holds
// the user.
func (p *Redis) onlineElsewhere(ctx context.Context, room, user int64) bool {
	return p.held(ctx, room, user, p.member(user))
}

// live lists the room's unexpired entries.
func (p *Redis) live(ctx context.Context, room int64) ([]string, error) {
	return p.rdb.ZRangeByScore(ctx, p.key(room), &redis.ZRangeBy{
		Min: strconv.FormatInt(time.Now().UnixMilli(), 10), Max: "+inf"}).Result()
}

// held reports whether a live entry other than except holds the user.
func (p *Redis) held(ctx context.Context, room, user int64, except string) bool {
	prefix := strconv.FormatInt(user, 10) + ":"
	members, err := p.live(ctx, room)
	if err != nil {
		return false
	}
	for _, m := range members {
		if strings.HasPrefix(m, prefix) && m != except {
			return true
		}
	}
	return false
}

// Online lists the users online in the room, across instances.
func (p *Redis) Online(ctx context.Context, room int64) ([]int64, error) {
	members, err := p.live(ctx, room)
	if err != nil {
		return nil, err
	}
	seen := make(map[int64]bool, len(members))
	out := make([]int64, 0, len(members))
	for _, m := range members {
		id, _, _ := strings.Cut(m, ":")
		if u, err := strconv.ParseInt(id, 10, 64); err == nil && !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	return out, nil
}

// loop beats every Beat and refreshes this instance's entries every
// Refresh, until Stop.
func (p *Redis) loop() {
	defer close(p.done)
	t := time.NewTicker(p.cfg.Beat)
	defer t.Stop()
	var lastRefresh time.Time
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		lapsed := p.beat(ctx)
		if lapsed || time.Since(lastRefresh) >= Refresh {
			p.refresh(ctx)
			lastRefresh = time.Now()
		}
		if lapsed {
			p.announce(ctx)
		}
		cancel()
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
	}
}

// refresh rewrites this instance's entries with a new expiry, prunes
// expired ones, and rewrites the set of rooms a reaper would look in.
func (p *Redis) refresh(ctx context.Context) {
	now := time.Now()
	exp := float64(now.Add(TTL).UnixMilli())
	seen := map[int64]bool{}
	var rooms []any
	pipe := p.rdb.Pipeline()
	p.cfg.Hub.LocalPresence(func(room, user int64) {
		key := p.key(room)
		pipe.ZAdd(ctx, key, redis.Z{Score: exp, Member: p.member(user)})
		if !seen[room] {
			seen[room] = true
			rooms = append(rooms, room)
			pipe.ZRemRangeByScore(ctx, key, "-inf", strconv.FormatInt(now.UnixMilli(), 10))
			pipe.Expire(ctx, key, TTL)
		}
	})
	key := p.roomsKey(p.cfg.Instance)
	if len(rooms) == 0 {
		pipe.Del(ctx, key)
	} else {
		// Built aside and renamed over (one slot: the {instance} tag), so a
		// reaper never sees it half written.
		next := key + ":next"
		pipe.Del(ctx, next)
		pipe.SAdd(ctx, next, rooms...)
		pipe.Expire(ctx, next, 2*TTL)
		pipe.Rename(ctx, next, key)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		p.log.Debug("presence: refresh", zap.Error(err))
	}
}
