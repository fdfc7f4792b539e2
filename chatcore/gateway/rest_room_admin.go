package gateway

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/chatgate/chatgate/chatcore"
	"github.com/chatgate/chatgate/chatcore/auth"
	"github.com/chatgate/chatgate/chatcore/wire"
)

// Room administration (issue 15): the owner renames a room, sets its topic
// or deletes it. Direct messages have no owner, so none of this applies
// to them.

const maxTopic = 250

var (
	errNotOwner = errf(http.StatusForbidden, wire.CodeForbidden, "only the room's owner may change or delete it")
	errDMAdmin  = errf(http.StatusForbidden, wire.CodeForbidden, "a direct message has no owner: it cannot be renamed or deleted")
)

// ownerOf checks who owns room: 400 bad id, 404 no such room, 403 not a
// member, a direct message, or not the owner. The role is read from
// Postgres (it decides), and the write checks it again in its statement.
func (a *API) ownerOf(ctx context.Context, id int64, who auth.Claims) error {
	if err := a.authorize(ctx, id, who); err != nil {
		return err
	}
	room, err := a.core.cachedRoom(ctx, id)
	if err != nil {
		return err
	}
	if room.Kind == chatcore.KindDM {
		return errDMAdmin
	}
	role, err := a.core.Store.Role(ctx, id, who.UserID)
	if errors.Is(err, chatcore.ErrNotFound) {
		return errNotMember // left between the two checks
	}
	if err != nil {
		return err
	}
	if role != chatcore.RoleOwner {
		return errNotOwner
	}
	return nil
}

// updateRoom is PATCH /api/rooms/{id} {"name","topic"} (either or both):
// 200 with the room as GET /api/rooms/{id} answers it.
func (a *API) updateRoom(w http.ResponseWriter, r *http.Request, who auth.Claims) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req struct {
		Name  *string `json:"name"`
		Topic *string `json:"topic"`
	}
	if err := a.decode(w, r, &req); err != nil {
		return err
	}
	if req.Name == nil && req.Topic == nil {
		return badRequest("give name or topic (or both)")
	}
	if req.Name != nil {
		name, ae := cleanName("name", *req.Name, 100)
		if ae != nil {
			return ae
		}
		req.Name = &name
	}
	if req.Topic != nil {
		topic, ae := cleanTopic(*req.Topic)
		if ae != nil {
			return ae
		}
		req.Topic = &topic
	}
	if err := a.ownerOf(r.Context(), id, who); err != nil {
		return err
	}
	room, err := a.core.Store.UpdateRoom(r.Context(), id, who.UserID, req.Name, req.Topic)
	if errors.Is(err, chatcore.ErrForbidden) {
		return errNotOwner // handed over or deleted since the check
	}
	if err != nil {
		return err
	}
	a.core.roomUpdated(r.Context(), id)
	a.core.announceToMembers(r.Context(), id, roomsWhyUpdated)
	room.Joined = true
	writeJSON(w, http.StatusOK, room)
	return nil
}

// deleteRoom is DELETE /api/rooms/{id}: the room, its memberships, its
// messages (with their reactions and mentions) and its files go; every member's subscriptions end on every instance
// (unsubscribed) and every cached answer about the room is dropped.
func (a *API) deleteRoom(w http.ResponseWriter, r *http.Request, who auth.Claims) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := a.ownerOf(r.Context(), id, who); err != nil {
		return err
	}
	members, fileKeys, err := a.core.Store.DeleteRoom(r.Context(), id, who.UserID)
	if errors.Is(err, chatcore.ErrForbidden) {
		return errNotOwner
	}
	if err != nil {
		return err
	}
	a.core.dropFileBytes(r.Context(), "delete room", fileKeys)
	a.core.roomDeleted(r.Context(), id, members)
	writeJSON(w, http.StatusOK, map[string]any{"room": id, "deleted": true})
	return nil
}

// cleanTopic is a topic as stored: like a name (NFC, spaces folded, no
// control, bidi or invisible characters) but up to 250 characters, and
// empty clears it.
func cleanTopic(s string) (string, *apiError) {
	if strings.TrimSpace(s) == "" && utf8.ValidString(s) {
		return "", nil
	}
	return cleanName("topic", s, maxTopic)
}
