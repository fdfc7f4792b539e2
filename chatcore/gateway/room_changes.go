package gateway

import "context"

// Cache invalidation after the writes of issue 15 (rooms renamed, topics
// set, rooms deleted, direct messages opened, users registered): each
// drops the entity cache entries and bumps the response-cache tags of
// every answer the write changes, on every instance.

// tagUserDirectory tags member directory pages (GET /api/users): new
// users may fall into any page.
const tagUserDirectory = "users:dir"

// tagDMs tags U's list of direct messages (GET /api/dms).
func tagDMs(user int64) string { return "dms:" + idKey(user) }

// userRegistered follows a new user.
func (c *Core) userRegistered(ctx context.Context) {
	c.caches().bumpTags(ctx, tagUserDirectory)
}

// roomUpdated follows a rename or a new topic: the room entity (which the
// room list composes private rooms from and room info is read through),
// and the stored room info (members:R) and public room list (rooms:list).
func (c *Core) roomUpdated(ctx context.Context, room int64) {
	k := c.caches()
	k.logErr("room", k.rooms.Invalidate(ctx, idKey(room)))
	k.bumpTags(ctx, tagMembers(room), tagRoomList)
}

// roomDeleted follows a room's deletion (committed). As with a leave
// (revoked), this instance's subscriptions end first; then every member's
// membership entry is dropped, and its notice ends their subscriptions on
// the other instances (the revoker re-checks them against Postgres, which
// no longer has them). Then everything cached about the room goes: the
// room and its counter, each member's room list part, and every response
// tagged with the room.
func (c *Core) roomDeleted(ctx context.Context, room int64, members []int64) {
	for _, u := range members {
		c.Hub.UnsubscribeUser(room, u)
	}
	k := c.caches()
	// The room first: its notice reaches the other instances (one
	// channel, in order) before the memberships' notices end their
	// subscriptions, so a client told "unsubscribed" finds the room gone.
	k.logErr("room", k.rooms.Invalidate(ctx, idKey(room)))
	k.logErr("counters", k.counts.Invalidate(ctx, idKey(room)))
	k.bumpTags(ctx, tagRoom(room), tagMembers(room), tagRoomList)
	if len(members) == 0 {
		return
	}
	keys := make([]string, len(members))
	users := make([]string, len(members))
	for i, u := range members {
		keys[i], users[i] = memberKey(room, u), idKey(u)
	}
	k.logErr("user_rooms", k.userRooms.Invalidate(ctx, users...))
	k.logErr("membership", k.members.Invalidate(ctx, keys...))
}

// dmOpened follows a direct message's creation: like a room created by
// both members at once, plus their lists of direct messages.
func (c *Core) dmOpened(ctx context.Context, room, a, b int64) {
	k := c.caches()
	k.logErr("membership", k.members.Invalidate(ctx, memberKey(room, a), memberKey(room, b)))
	k.logErr("room", k.rooms.Invalidate(ctx, idKey(room)))
	k.logErr("user_rooms", k.userRooms.Invalidate(ctx, idKey(a), idKey(b)))
	k.bumpTags(ctx, tagRoom(room), tagMembers(room), tagDMs(a), tagDMs(b))
}
