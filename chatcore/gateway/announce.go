package gateway

import (
	"context"

	"go.uber.org/zap"

	"github.com/chatgate/chatgate/chatcore/wire"
)

// Room list changes a user did not make themselves reach their clients as
// a rooms event, through the same per-user inbox as mentions: every
// connection of theirs, on every instance, subscribed to the room or not.
// Without it a peer learns of a new direct message, an invitation or a
// rename only when their client next reloads the list.

// Why a user's room list changed (wire.RoomsEvent).
const (
	roomsWhyDM      = "dm"
	roomsWhyInvited = "invited"
	roomsWhyUpdated = "updated"
)

// maxAnnounced bounds the members told of a rename or a topic, one inbox
// publication each; in larger rooms members see it when their client
// reloads the room list.
const maxAnnounced = 1000

// announceRooms sends users a rooms event for room. It runs after the
// change is committed and its caches dropped, so a client that reloads on
// the event reads the new list; if it is lost, the client's periodic
// reload is the backstop.
func (c *Core) announceRooms(ctx context.Context, room int64, why string, users ...int64) {
	if len(users) == 0 {
		return
	}
	ev := wire.Encode(wire.RoomsEvent{Type: wire.TypeRooms, Room: room, Why: why})
	for _, u := range users {
		c.sendToUser(ctx, u, ev)
	}
}

// announceToMembers sends a rooms event to the members of room (the one
// who made the change too: their other devices), when there are at most
// maxAnnounced.
func (c *Core) announceToMembers(ctx context.Context, room int64, why string) {
	// The count first: a large room's member list is not read for it.
	if r, err := c.cachedRoom(ctx, room); err != nil || r.MemberCount > maxAnnounced {
		return
	}
	members, err := c.Store.Members(ctx, room)
	if err != nil {
		c.log.Warn("gateway: members for a rooms event", zap.Int64("room", room), zap.Error(err))
		return
	}
	if len(members) > maxAnnounced {
		return
	}
	users := make([]int64, len(members))
	for i, m := range members {
		users[i] = m.ID
	}
	c.announceRooms(ctx, room, why, users...)
}
