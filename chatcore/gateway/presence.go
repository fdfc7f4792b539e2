package gateway

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// Presence: a user is online in a room while they have a live subscription
// to it on any instance. Each instance keeps its own users in a per-room
// Redis sorted set, member "user:instance", scored by an expiry it refreshes
// every presenceRefresh. Changes are pushed, never polled: the hub reports a
// user's first and last local subscription, and an "offline" goes out only
// when no other instance still holds the user. An instance that dies says
// nothing, so the survivors notice its missing heartbeat and push the
// "offline"s for it (presence_reap.go); the entries' own expiry, presenceTTL,
// is the backstop. Best-effort, like typing: never stored in Postgres.
const (
	presenceTTL     = 60 * time.Second
	presenceRefresh = 20 * time.Second
)

type presence struct {
	c        *Core
	rdb      redis.UniversalClient
	instance string
	stop     chan struct{}
	wg       sync.WaitGroup
	beaten   bool // a heartbeat has been written (loop's own)

	beatEvery, deadAfter time.Duration
}

func newPresence(c *Core, rdb redis.UniversalClient, instance string) *presence {
	p := &presence{c: c, rdb: rdb, instance: instance, stop: make(chan struct{}),
		beatEvery: presenceBeat, deadAfter: presenceDead}
	if rdb != nil {
		p.wg.Add(1)
		go p.loop()
	}
	return p
}

// key is the room's sorted set: <prefix>presence:{<room>}.
func (p *presence) key(room int64) string {
	return p.c.cfg.RedisPrefix + "presence:{" + strconv.FormatInt(room, 10) + "}"
}

func (p *presence) member(user int64) string {
	return strconv.FormatInt(user, 10) + ":" + p.instance
}

func (p *presence) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), time.Second)
}

// changed runs when the hub sees a user's first or last local
// subscription to a room.
func (p *presence) changed(room, user int64, online bool) {
	if p.rdb == nil {
		p.c.Hub.Presence(room, user, online)
		return
	}
	ctx, cancel := p.ctx()
	defer cancel()
	key := p.key(room)
	if online {
		exp := float64(time.Now().Add(presenceTTL).UnixMilli())
		rooms := p.roomsKey(p.instance)
		if _, err := p.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
			pipe.ZAdd(ctx, key, redis.Z{Score: exp, Member: p.member(user)})
			pipe.Expire(ctx, key, presenceTTL)
			// Where a reaper looks if this instance dies.
			pipe.SAdd(ctx, rooms, room)
			pipe.Expire(ctx, rooms, 2*presenceTTL)
			return nil
		}); err != nil {
			p.c.log.Debug("gateway: presence add", zap.Error(err))
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
func (p *presence) push(ctx context.Context, room, user int64, online bool) {
	p.c.Hub.Presence(room, user, online)
	if err := p.c.Bus.PublishPresence(ctx, room, user, online); err != nil {
		p.c.log.Debug("gateway: publish presence", zap.Error(err))
	}
}

// onlineElsewhere reports whether an instance other than this one holds
// the user.
func (p *presence) onlineElsewhere(ctx context.Context, room, user int64) bool {
	return p.held(ctx, room, user, p.member(user))
}

// held reports whether a live entry other than except holds the user.
func (p *presence) held(ctx context.Context, room, user int64, except string) bool {
	prefix := strconv.FormatInt(user, 10) + ":"
	members, err := p.rdb.ZRangeByScore(ctx, p.key(room), &redis.ZRangeBy{
		Min: strconv.FormatInt(time.Now().UnixMilli(), 10), Max: "+inf"}).Result()
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

// online lists the users online in the room, across instances.
func (p *presence) online(ctx context.Context, room int64) ([]int64, error) {
	if p.rdb == nil {
		return p.c.Hub.LocalUsers(room), nil
	}
	members, err := p.rdb.ZRangeByScore(ctx, p.key(room), &redis.ZRangeBy{
		Min: strconv.FormatInt(time.Now().UnixMilli(), 10), Max: "+inf"}).Result()
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

// loop beats every presenceBeat (presence_reap.go) and refreshes this
// instance's entries every presenceRefresh, until close.
func (p *presence) loop() {
	defer p.wg.Done()
	t := time.NewTicker(p.beatEvery)
	defer t.Stop()
	var lastRefresh time.Time
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		lapsed := p.beat(ctx)
		if lapsed || time.Since(lastRefresh) >= presenceRefresh {
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
func (p *presence) refresh(ctx context.Context) {
	now := time.Now()
	exp := float64(now.Add(presenceTTL).UnixMilli())
	seen := map[int64]bool{}
	var rooms []any
	pipe := p.rdb.Pipeline()
	p.c.Hub.LocalPresence(func(room, user int64) {
		key := p.key(room)
		pipe.ZAdd(ctx, key, redis.Z{Score: exp, Member: p.member(user)})
		if !seen[room] {
			seen[room] = true
			rooms = append(rooms, room)
			pipe.ZRemRangeByScore(ctx, key, "-inf", strconv.FormatInt(now.UnixMilli(), 10))
			pipe.Expire(ctx, key, presenceTTL)
		}
	})
	key := p.roomsKey(p.instance)
	if len(rooms) == 0 {
		pipe.Del(ctx, key)
	} else {
		// Built aside and renamed over (one slot: the {instance} tag), so a
		// reaper never sees it half written.
		next := key + ":next"
		pipe.Del(ctx, next)
		pipe.SAdd(ctx, next, rooms...)
		pipe.Expire(ctx, next, 2*presenceTTL)
		pipe.Rename(ctx, next, key)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		p.c.log.Debug("gateway: presence refresh", zap.Error(err))
	}
}

func (p *presence) close() {
	select {
	case <-p.stop:
		return
	default:
		close(p.stop)
	}
	p.wg.Wait()
	if p.rdb != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		p.leave(ctx)
	}
}
