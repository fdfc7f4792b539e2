package gateway

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/chatgate/chatgate/chatcore"
	"github.com/chatgate/chatgate/chatcore/entitycache"
	"github.com/chatgate/chatgate/chatcore/store"
)

// Entity cache lifetimes (README.md, Architecture: "API reads come from cache"). Every write invalidates
// explicitly; the TTLs only bound what a lost invalidation could cost.
const (
	roomTTL = 5 * time.Minute
	userTTL = 10 * time.Minute
	// membershipTTL bounds how long an instance that cannot publish to
	// Redis while the others still read it can leave a stale positive
	// answer in their caches (SECURITY.md).
	membershipTTL = 30 * time.Second
	countTTL      = 30 * time.Second
)

// caching is the caching side of a Core: the entity caches on their
// invalidation bus, and the response caches registered to receive tag
// bumps (response_cache.go). New builds it (newCaching), Start starts its
// bus (start), Stop stops it (StopCaches).
type caching struct {
	core    *Core
	bus     *entitycache.Bus
	rooms   *entitycache.Cache[chatcore.Room]
	users   *entitycache.Cache[chatcore.User]
	members *entitycache.Cache[bool]
	counts  *entitycache.Cache[store.Counters]
	// tokenGens is each user's session generation (sessions.go).
	tokenGens *entitycache.Cache[int64]
	// userRooms is each user's memberships with read markers: the
	// per-user part of the room list (rest_roomlist.go).
	userRooms *entitycache.Cache[[]store.RoomRead]
	// memberLoads answers the membership checks both levels missed, in
	// batches.
	memberLoads *memberBatch
	// latest is the last newest-messages page composed per room
	// (rest_latest.go).
	latest latestPages
	// roomList is the room list's stored part, decoded (rest_roomlist.go).
	roomList roomListCache

	mu   sync.Mutex
	tags map[string]*tagRef
}

// newCaching builds the core's caches without I/O: the bus subscribes in
// start.
func newCaching(c *Core) *caching {
	bus := entitycache.NewBus(c.Redis(), c.cfg.RedisPrefix, c.log)
	k := &caching{core: c, bus: bus, tags: make(map[string]*tagRef),
		rooms:   entitycache.New[chatcore.Room](bus, entitycache.Options{Name: "room", TTL: roomTTL}),
		users:   entitycache.New[chatcore.User](bus, entitycache.Options{Name: "user", TTL: userTTL}),
		members: entitycache.New[bool](bus, entitycache.Options{Name: "membership", TTL: membershipTTL, L1Size: 100000}),
		counts:  entitycache.New[store.Counters](bus, entitycache.Options{Name: "counters", TTL: countTTL}),
		// It decides which private rooms a user's list shows: the same
		// bound as membership answers.
		userRooms:   entitycache.New[[]store.RoomRead](bus, entitycache.Options{Name: "user_rooms", TTL: membershipTTL, L1Size: 100000}),
		memberLoads: newMemberBatch(c.Store.Memberships),
		tokenGens:   entitycache.New[int64](bus, entitycache.Options{Name: "token_gen", TTL: userTTL, L1Size: 100000}),
	}
	// A session generation dropped here or elsewhere closes the user's
	// older sockets on this instance; a lost channel checks them all.
	c.sessions.c = c
	k.tokenGens.OnInvalidate = c.sessions.check
	k.tokenGens.OnClear = c.sessions.checkAll
	// A membership notice, from this instance or another, re-checks the
	// live subscriptions it concerns; a lost channel re-checks them all.
	k.members.OnInvalidate = func(ids []string) {
		pairs := make([][2]int64, 0, len(ids))
		for _, id := range ids {
			if room, user, ok := splitMemberKey(id); ok {
				pairs = append(pairs, [2]int64{room, user})
			}
		}
		c.revoker.check(pairs...)
	}
	k.members.OnClear = c.revoker.checkAll
	return k
}

// start subscribes to the invalidation channel in the background (the
// in-process level is bypassed until the subscription is up); idempotent.
func (k *caching) start() { k.bus.Start(context.Background()) }

// caches is the core's caching state.
func (c *Core) caches() *caching { return c.cache }

// StartCaches starts the entity caches' invalidation subscriber (Start
// has) and warms them with the most active rooms, their members and their
// profiles, bounded by 30 s. It is safe to call again.
func (c *Core) StartCaches(ctx context.Context) error {
	k := c.cache
	k.start()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	start := time.Now()
	n, err := k.warmUp(ctx, 100)
	c.log.Info("gateway: caches warmed", zap.Int("rooms", n), zap.Duration("took", time.Since(start)), zap.Error(err))
	return err
}

// StopCaches stops the invalidation subscriber; Stop calls it, before the
// Redis client closes. It is idempotent.
func (c *Core) StopCaches() { c.cache.bus.Close() }

func (k *caching) logErr(what string, err error) {
	if err != nil {
		k.core.log.Warn("gateway: cache invalidation failed", zap.String("what", what), zap.Error(err))
	}
}

func memberKey(room, user int64) string {
	return strconv.FormatInt(room, 10) + ":" + strconv.FormatInt(user, 10)
}

func splitMemberKey(s string) (room, user int64, ok bool) {
	a, b, found := strings.Cut(s, ":")
	if !found {
		return 0, 0, false
	}
	r, err1 := strconv.ParseInt(a, 10, 64)
	u, err2 := strconv.ParseInt(b, 10, 64)
	return r, u, err1 == nil && err2 == nil
}

func idKey(id int64) string { return strconv.FormatInt(id, 10) }

// one picks id's value out of a batch lookup's answer for one id, the
// loaders' shape: chatcore.ErrNotFound when the batch has none.
func one[V any](got map[int64]V, id int64, err error) (V, error) {
	v, ok := got[id]
	if err == nil && !ok {
		err = chatcore.ErrNotFound
	}
	return v, err
}

// cachedRoom is a room with its counters: the room entry (5 min, dropped on
// joins and leaves) plus the counters (30 s, dropped on posts and events).
func (c *Core) cachedRoom(ctx context.Context, id int64) (chatcore.Room, error) {
	k := c.caches()
	room, err := k.rooms.Get(ctx, idKey(id), func(ctx context.Context, _ string) (chatcore.Room, error) {
		return c.Store.RoomByID(ctx, id)
	})
	if err != nil {
		return room, err
	}
	n, err := k.counts.Get(ctx, idKey(id), func(ctx context.Context, _ string) (store.Counters, error) {
		got, err := c.Store.RoomCounters(ctx, []int64{id})
		return one(got, id, err)
	})
	if err != nil {
		return room, err
	}
	room.LastSeq, room.MessageCount = n.Seq, n.Messages()
	return room, nil
}

// roomCounters is the counters of rooms from the counters cache (dropped
// on every post and room event, so always current), missing ones in one
// query.
func (c *Core) roomCounters(ctx context.Context, rooms []int64) (map[int64]store.Counters, error) {
	ids := make([]string, len(rooms))
	for i, r := range rooms {
		ids[i] = idKey(r)
	}
	got, err := c.caches().counts.GetMany(ctx, ids, func(ctx context.Context, ids []string) (map[string]store.Counters, error) {
		want := make([]int64, 0, len(ids))
		for _, id := range ids {
			if n, err := strconv.ParseInt(id, 10, 64); err == nil {
				want = append(want, n)
			}
		}
		counters, err := c.Store.RoomCounters(ctx, want)
		if err != nil {
			return nil, err
		}
		out := make(map[string]store.Counters, len(counters))
		for id, n := range counters {
			out[idKey(id)] = n
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	out := make(map[int64]store.Counters, len(got))
	for i, r := range rooms {
		if n, ok := got[ids[i]]; ok {
			out[r] = n
		}
	}
	return out, nil
}

// cachedUserRooms is user's memberships with read markers; every join,
// leave, invitation, removal, room creation and read marker of the user
// drops it.
func (c *Core) cachedUserRooms(ctx context.Context, user int64) ([]store.RoomRead, error) {
	return c.caches().userRooms.Get(ctx, idKey(user), func(ctx context.Context, _ string) ([]store.RoomRead, error) {
		return c.Store.UserRooms(ctx, user)
	})
}

// cachedUser is a user without the password hash (it never enters a cache).
func (c *Core) cachedUser(ctx context.Context, id int64) (chatcore.User, error) {
	return c.caches().users.Get(ctx, idKey(id), func(ctx context.Context, _ string) (chatcore.User, error) {
		u, err := c.Store.UserByID(ctx, id)
		return chatcore.User{ID: u.ID, Name: u.Name, Email: u.Email, CreatedAt: u.CreatedAt}, err
	})
}

// isMember caches both answers: every membership change invalidates.
func (c *Core) isMember(ctx context.Context, room, user int64) (bool, error) {
	return c.caches().members.Get(ctx, memberKey(room, user), func(ctx context.Context, _ string) (bool, error) {
		return c.caches().memberLoads.isMember(ctx, room, user)
	})
}

// membershipChanged follows a join, leave or invite of user in room.
func (c *Core) membershipChanged(ctx context.Context, room, user int64) {
	k := c.caches()
	k.logErr("membership", k.members.Invalidate(ctx, memberKey(room, user)))
	k.logErr("room", k.rooms.Invalidate(ctx, idKey(room)))
	k.logErr("user_rooms", k.userRooms.Invalidate(ctx, idKey(user)))
	k.bumpTags(ctx, tagRoom(room), tagMembers(room), tagRoomList, tagUser(user))
}

// revoked follows user's leaving or removal from room (already committed):
// this instance's subscriptions end at once, then the caches are
// invalidated, whose notice ends the user's subscriptions on the other
// instances (revoker). In this order the notice finds no local subscription
// left to re-check against Postgres; a subscribe racing in between is
// caught by the notice or by its own second membership check.
func (c *Core) revoked(ctx context.Context, room, user int64) {
	c.Hub.UnsubscribeUser(room, user)
	c.membershipChanged(ctx, room, user)
}

// roomCreated follows a room's creation: a "not a member" answer may have
// been cached for the id before the room existed.
func (c *Core) roomCreated(ctx context.Context, room, creator int64) {
	k := c.caches()
	k.logErr("membership", k.members.Invalidate(ctx, memberKey(room, creator)))
	k.logErr("room", k.rooms.Invalidate(ctx, idKey(room)))
	k.logErr("user_rooms", k.userRooms.Invalidate(ctx, idKey(creator)))
	k.bumpTags(ctx, tagRoomList)
}

// messagesPosted follows stored messages in rooms, seqs[i] the newest in
// rooms[i]: the invalidator's bump (invalidate.go). The room list and room
// info entries do not hold the counters (they are composed in from the
// counters cache dropped here), and the newest-messages page is
// composed from the version of room:R, which carries the room's last seq
// (Advance, rest_latest.go): no stored entry goes.
func (c *Core) messagesPosted(ctx context.Context, rooms, seqs []int64) {
	k := c.caches()
	ids := make([]string, len(rooms))
	tags := make([]string, 0, len(rooms))
	for i, r := range rooms {
		ids[i] = idKey(r)
		tags = append(tags, tagRoom(r))
	}
	k.logErr("counters", k.counts.Invalidate(ctx, ids...))
	k.advanceTags(ctx, tags, seqs)
}

// eventsCommitted follows stored room events (edits, deletes, reactions)
// in rooms, before messagesPosted advances room:R past them: the history
// pages below the newest and the newest page's stored part (history:R)
// show the messages they change. All of a room's pages go, not
// only the one holding the target: the route's tags are fixed before the
// page is read, and events are rare next to reads.
func (c *Core) eventsCommitted(ctx context.Context, rooms ...int64) {
	tags := make([]string, len(rooms))
	for i, r := range rooms {
		tags[i] = tagHistory(r)
	}
	c.caches().bumpTags(ctx, tags...)
}

// readMarked follows a read-marker move (the room list shows it).
func (c *Core) readMarked(ctx context.Context, user int64) {
	k := c.caches()
	k.logErr("user_rooms", k.userRooms.Invalidate(ctx, idKey(user)))
	k.bumpTags(ctx, tagUser(user))
}

// CacheCommitted marks the rooms of messages committed by this instance's
// batcher for invalidation (invalidate.go: one goroutine bumps them with
// messagesPosted, coalescing a burst into one bump, never dropping one).
// Every send, WebSocket or REST, reaches the caches through it, once.
// Core.committed calls it after local delivery.
func (c *Core) CacheCommitted(msgs []chatcore.Message) {
	if len(msgs) > 0 {
		c.withInvalidator(func(v *invalidator) { v.markLocked(msgs) })
	}
}
