package gateway

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strconv"

	"github.com/chatgate/chatgate/chatcore"
	"github.com/chatgate/chatgate/chatcore/auth"
	"github.com/chatgate/chatgate/chatcore/wire"
)

// listRooms answers the whole room list of the caller, or, when the
// response cache fills its entry (storedPart), only the part that is the
// same for everyone: the public rooms without counters (rest_roomlist.go
// composes the rest in). The whole list changes with every message, so it
// is never stored.
func (a *API) listRooms(w http.ResponseWriter, r *http.Request, who auth.Claims) error {
	var rooms []chatcore.Room
	var err error
	shared := storedPart(r.Context())
	if shared {
		rooms, err = a.core.Store.PublicRooms(r.Context())
	} else {
		rooms, err = a.core.Store.ListRooms(r.Context(), who.UserID)
	}
	if err != nil {
		return err
	}
	if rooms == nil {
		rooms = []chatcore.Room{}
	}
	if shared {
		setTags(w.Header(), tagRoomList)
	} else {
		w.Header().Set("Cache-Control", "no-store")
	}
	writeJSON(w, http.StatusOK, map[string]any{"rooms": rooms})
	return nil
}

func (a *API) createRoom(w http.ResponseWriter, r *http.Request, who auth.Claims) error {
	var req struct {
		Name      string `json:"name"`
		IsPrivate bool   `json:"is_private"`
	}
	if err := a.decode(w, r, &req); err != nil {
		return err
	}
	name, ae := cleanName("name", req.Name, 100)
	if ae != nil {
		return ae
	}
	room, err := a.core.Store.CreateRoom(r.Context(), who.UserID, name, req.IsPrivate)
	if err != nil {
		return err
	}
	a.core.roomCreated(r.Context(), room.ID, who.UserID)
	room.Joined = true
	writeJSON(w, http.StatusCreated, room)
	return nil
}

// roomFor loads a room and checks the caller may see it: public rooms are
// visible to everyone, private ones to members only.
func (a *API) roomFor(ctx context.Context, id int64, who auth.Claims) (chatcore.Room, bool, error) {
	room, err := a.core.cachedRoom(ctx, id)
	if errors.Is(err, chatcore.ErrNotFound) {
		return room, false, errNoRoom
	}
	if err != nil {
		return room, false, err
	}
	member, err := a.core.isMember(ctx, id, who.UserID)
	if err != nil {
		return room, false, err
	}
	if room.IsPrivate && !member {
		return room, false, errNotMember
	}
	room.Joined = member
	return room, member, nil
}

func (a *API) room(w http.ResponseWriter, r *http.Request, who auth.Claims) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	room, _, err := a.roomFor(r.Context(), id, who)
	if err != nil {
		return err
	}
	if storedPart(r.Context()) {
		// The response cache's entry, shared by the members: without the
		// counters (composed in per answer), so only membership changes
		// (member_count), renames and topics drop it. It is read from
		// Postgres, not the room entity cache: a fill right after such a
		// change on another instance may come before that instance's
		// invalidation notice, and would store the old room for the
		// entry's whole lifetime. Fills are one per change.
		fresh, err := a.core.Store.RoomByID(r.Context(), id)
		if errors.Is(err, chatcore.ErrNotFound) {
			return errNoRoom // deleted meanwhile
		}
		if err != nil {
			return err
		}
		fresh.Joined = room.Joined
		room = fresh
		room.LastSeq, room.MessageCount = 0, 0
		setTags(w.Header(), tagMembers(id))
	} else {
		setTags(w.Header(), tagRoom(id))
	}
	writeJSON(w, http.StatusOK, room)
	return nil
}

func (a *API) join(w http.ResponseWriter, r *http.Request, who auth.Claims) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	room, member, err := a.roomFor(r.Context(), id, who)
	if err != nil {
		if errors.Is(err, errNotMember) {
			return errf(http.StatusForbidden, wire.CodeForbidden, "private room: join by invitation only")
		}
		return err
	}
	if !member {
		if _, err := a.core.Store.Join(r.Context(), room.ID, who.UserID, chatcore.RoleMember); err != nil {
			return err
		}
		a.core.membershipChanged(r.Context(), room.ID, who.UserID)
	}
	writeJSON(w, http.StatusOK, map[string]any{"room": room.ID, "joined": true})
	return nil
}

func (a *API) leave(w http.ResponseWriter, r *http.Request, who auth.Claims) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if dm, err := a.isDM(r.Context(), id); err != nil {
		return err
	} else if dm {
		return errf(http.StatusForbidden, wire.CodeForbidden, "a direct message has exactly its two members: it cannot be left")
	}
	if _, err := a.core.Store.Leave(r.Context(), id, who.UserID); err != nil {
		return err
	}
	a.core.revoked(r.Context(), id, who.UserID)
	writeJSON(w, http.StatusOK, map[string]any{"room": id, "joined": false})
	return nil
}

func (a *API) members(w http.ResponseWriter, r *http.Request, who auth.Claims) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if _, _, err := a.roomFor(r.Context(), id, who); err != nil {
		return err
	}
	ms, err := a.core.Store.Members(r.Context(), id)
	if err != nil {
		return err
	}
	if ms == nil {
		ms = []chatcore.Member{}
	}
	setTags(w.Header(), tagMembers(id))
	writeJSON(w, http.StatusOK, map[string]any{"members": ms})
	return nil
}

func (a *API) invite(w http.ResponseWriter, r *http.Request, who auth.Claims) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req userRequest
	if err := a.decode(w, r, &req); err != nil {
		return err
	}
	if req.Name == nil && req.UserID <= 0 {
		return badRequest("user_id must be a positive integer (or give name)")
	}
	if err := a.authorize(r.Context(), id, who); err != nil {
		return err
	}
	if dm, err := a.isDM(r.Context(), id); err != nil {
		return err
	} else if dm {
		return errf(http.StatusForbidden, wire.CodeForbidden, "a direct message has exactly its two members: no invitations")
	}
	user, err := a.resolve(r.Context(), req)
	if err != nil {
		return err
	}
	added, err := a.core.Store.Join(r.Context(), id, user.ID, chatcore.RoleMember)
	if err != nil {
		return err
	}
	a.core.membershipChanged(r.Context(), id, user.ID)
	if added {
		a.core.announceRooms(r.Context(), id, roomsWhyInvited, user.ID)
	}
	writeJSON(w, http.StatusOK, map[string]any{"room": id, "user_id": user.ID, "joined": true})
	return nil
}

// removeMember is the owner taking someone out of the room (an invitation
// by mistake, a troll): the same revocation as a leave, on every instance.
func (a *API) removeMember(w http.ResponseWriter, r *http.Request, who auth.Claims) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	target, err := strconv.ParseInt(r.PathValue("user"), 10, 64)
	if err != nil || target <= 0 {
		return badRequest("user must be a positive integer")
	}
	if err := a.authorize(r.Context(), id, who); err != nil {
		return err
	}
	// The role is read from Postgres, not a cache: it decides a removal.
	role, err := a.core.Store.Role(r.Context(), id, who.UserID)
	if errors.Is(err, chatcore.ErrNotFound) {
		return errNotMember // left between the two checks
	}
	if err != nil {
		return err
	}
	switch {
	case role != chatcore.RoleOwner:
		return errf(http.StatusForbidden, wire.CodeForbidden, "only the room's owner may remove members")
	case target == who.UserID:
		return badRequest("the owner cannot remove themselves")
	}
	left, err := a.core.Store.Leave(r.Context(), id, target)
	if err != nil {
		return err
	}
	if !left {
		return errf(http.StatusNotFound, wire.CodeNotFound, "user is not a member of this room")
	}
	a.core.revoked(r.Context(), id, target)
	writeJSON(w, http.StatusOK, map[string]any{"room": id, "user_id": target, "joined": false})
	return nil
}

// presence lists who is online in the room (has a live subscription to it
// on any instance). Changes are pushed on the socket as presence events.
func (a *API) presence(w http.ResponseWriter, r *http.Request, who auth.Claims) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := a.authorize(r.Context(), id, who); err != nil {
		return err
	}
	users, err := a.core.Online(r.Context(), id)
	if err != nil {
		return err
	}
	if users == nil {
		users = []int64{} // "online":[] , never null
	}
	sort.Slice(users, func(i, j int) bool { return users[i] < users[j] })
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"room": id, "online": users})
	return nil
}

// isDM reports whether room is a direct message; false for no such room
// (the caller answers that itself).
func (a *API) isDM(ctx context.Context, room int64) (bool, error) {
	r, err := a.core.cachedRoom(ctx, room)
	if errors.Is(err, chatcore.ErrNotFound) {
		return false, nil
	}
	return r.Kind == chatcore.KindDM, err
}
