package presence

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// An instance that crashes never says its users went offline. Every
// instance therefore beats: it keeps itself in one sorted set, scored by
// when it stops counting as alive, and on each beat looks for instances
// past that. The first survivor to remove a dead one from the set (ZREM
// answers 1 to exactly one caller) reaps it: it drops the dead instance's
// entries from the rooms it held and pushes "offline" for every user no
// other instance holds. Users reconnected elsewhere by then stay online.
//
// DeadAfter is several beats long so a GC pause or a slow Redis round
// trip does not get a live instance reaped; one that is reaped anyway (a
// Redis outage longer than that) finds itself gone on its next beat and
// announces its users again.

// instancesKey is the heartbeat set: <prefix>presence:instances.
func (p *Redis) instancesKey() string { return p.cfg.Prefix + "presence:instances" }

// roomsKey is the set of rooms where instance holds entries. The hash tag
// keeps it and its rewrite (refresh) in one cluster slot.
func (p *Redis) roomsKey(instance string) string {
	return p.cfg.Prefix + "presence:rooms:{" + instance + "}"
}

// beat renews this instance's heartbeat and reaps the dead. It reports
// whether this instance's heartbeat had lapsed: it may have been reaped (or
// Redis lost its data), so its entries must be written again at once and
// its users announced.
func (p *Redis) beat(ctx context.Context) (lapsed bool) {
	now := time.Now()
	added, err := p.rdb.ZAdd(ctx, p.instancesKey(), redis.Z{
		Score: float64(now.Add(p.cfg.DeadAfter).UnixMilli()), Member: p.cfg.Instance}).Result()
	if err != nil {
		p.log.Debug("presence: heartbeat", zap.Error(err))
		return false
	}
	lapsed = added == 1 && p.beaten
	p.beaten = true
	dead, err := p.rdb.ZRangeByScore(ctx, p.instancesKey(), &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(now.UnixMilli(), 10)}).Result()
	if err != nil {
		return lapsed
	}
	for _, inst := range dead {
		if inst == p.cfg.Instance {
			continue
		}
		if n, err := p.rdb.ZRem(ctx, p.instancesKey(), inst).Result(); err == nil && n == 1 {
			p.reap(ctx, inst)
		}
	}
	return lapsed
}

// announce pushes "online" for the local users another instance may have
// pushed offline while this one could not beat: those it holds alone (a
// reaper leaves the others online).
func (p *Redis) announce(ctx context.Context) {
	n := 0
	p.cfg.Hub.LocalPresence(func(room, user int64) {
		if !p.onlineElsewhere(ctx, room, user) {
			p.push(ctx, room, user, true)
			n++
		}
	})
	if n > 0 {
		p.log.Warn("presence: heartbeat had lapsed; users announced again", zap.Int("entries", n))
	}
}

// reap removes inst's presence entries and pushes "offline" for the users
// who are not online on any other instance.
func (p *Redis) reap(ctx context.Context, inst string) {
	roomsKey := p.roomsKey(inst)
	rooms, err := p.rdb.SMembers(ctx, roomsKey).Result()
	if err != nil {
		p.log.Warn("presence: reap", zap.String("instance", inst), zap.Error(err))
		return
	}
	suffix := ":" + inst
	offline := 0
	for _, rs := range rooms {
		room, err := strconv.ParseInt(rs, 10, 64)
		if err != nil {
			continue
		}
		key := p.key(room)
		members, err := p.rdb.ZRange(ctx, key, 0, -1).Result()
		if err != nil {
			continue
		}
		var gone []any
		var users []int64
		for _, m := range members {
			if !strings.HasSuffix(m, suffix) {
				continue
			}
			id, _, _ := strings.Cut(m, ":")
			if u, err := strconv.ParseInt(id, 10, 64); err == nil {
				gone = append(gone, m)
				users = append(users, u)
			}
		}
		if len(gone) == 0 {
			continue
		}
		if err := p.rdb.ZRem(ctx, key, gone...).Err(); err != nil {
			continue
		}
		for _, u := range users {
			if !p.held(ctx, room, u, "") {
				p.push(ctx, room, u, false)
				offline++
			}
		}
	}
	_ = p.rdb.Del(ctx, roomsKey).Err()
	if inst != p.cfg.Instance {
		p.log.Info("presence: reaped the presence of a dead instance",
			zap.String("instance", inst), zap.Int("rooms", len(rooms)), zap.Int("offline", offline))
	}
}

// leave takes this instance out on a clean stop: its remaining entries go
// at once, not after DeadAfter.
func (p *Redis) leave(ctx context.Context) {
	if err := p.rdb.ZRem(ctx, p.instancesKey(), p.cfg.Instance).Err(); err != nil {
		return
	}
	p.reap(ctx, p.cfg.Instance)
}
