package gateway

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/chatgate/chatgate/chatcore"
	"github.com/chatgate/chatgate/chatcore/auth"
	"github.com/chatgate/chatgate/chatcore/store"
	"github.com/chatgate/chatgate/chatcore/wire"
)

// Finding people (issue 15): the member directory, and naming a user by
// name where an id was needed (invitations, direct messages).

const (
	searchDefaultLimit = 20
	searchMaxLimit     = 50
)

// searchUsers is GET /api/users?q=&limit=&cursor=: users whose name
// starts with q, case-insensitively in every script (store.FoldName), by
// folded name then id, a page at a time. Only ids and names: never an
// e-mail. Each call costs a token of the caller's search bucket on top of
// the request limit, so the directory cannot be walked quickly.
func (a *API) searchUsers(w http.ResponseWriter, r *http.Request, who auth.Claims) error {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return badRequest("query string is malformed: " + err.Error())
	}
	for k, v := range q {
		if len(v) > 1 {
			return badRequest(k + " must be given once")
		}
	}
	prefix, ae := cleanName("q", q.Get("q"), 64)
	if ae != nil {
		return ae
	}
	limit := searchDefaultLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > searchMaxLimit {
			return badRequest("limit must be an integer from 1 to " + strconv.Itoa(searchMaxLimit))
		}
		limit = n
	}
	var after store.UserCursor
	if s := q.Get("cursor"); s != "" {
		c, ok := decodeUserCursor(s)
		if !ok {
			return badRequest("cursor is malformed: pass next from the previous page as it is")
		}
		after = c
	}
	if err := a.allowUserSearch(r.Context(), who.UserID); err != nil {
		return err
	}
	users, last, more, err := a.core.Store.SearchUsers(r.Context(), store.FoldName(prefix), after, limit)
	if err != nil {
		return err
	}
	out := map[string]any{"users": users}
	if more {
		out["next"] = encodeUserCursor(last)
	}
	setTags(w.Header(), tagUserDirectory)
	writeJSON(w, http.StatusOK, out)
	return nil
}

// A directory cursor is the keyset of a page's last row, base64url of
// "<folded name>\x00<id>": opaque to clients.
func encodeUserCursor(c store.UserCursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(c.Fold + "\x00" + strconv.FormatInt(c.ID, 10)))
}

func decodeUserCursor(s string) (store.UserCursor, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || !utf8.Valid(b) {
		return store.UserCursor{}, false
	}
	fold, id, found := strings.Cut(string(b), "\x00")
	n, err := strconv.ParseInt(id, 10, 64)
	if !found || err != nil || n <= 0 || strings.ContainsRune(fold, 0) {
		return store.UserCursor{}, false
	}
	return store.UserCursor{Fold: fold, ID: n}, true
}

// userRequest names a user by id or by name (exactly one of them): what
// invitations and direct messages take.
type userRequest struct {
	UserID int64   `json:"user_id"`
	Name   *string `json:"name"`
}

// resolve returns the user the request names: 400 for neither or both or
// a bad value, 404 for no such user, 409 when several users bear the name
// (case-insensitively): the client asks again with the user_id it picks
// from GET /api/users.
func (a *API) resolve(ctx context.Context, req userRequest) (chatcore.UserRef, error) {
	switch {
	case req.Name != nil && req.UserID != 0:
		return chatcore.UserRef{}, badRequest("give user_id or name, not both")
	case req.Name != nil:
		name, ae := cleanName("name", *req.Name, 64)
		if ae != nil {
			return chatcore.UserRef{}, ae
		}
		users, err := a.core.Store.UsersNamed(ctx, store.FoldName(name), 2)
		switch {
		case err != nil:
			return chatcore.UserRef{}, err
		case len(users) == 0:
			return chatcore.UserRef{}, errNoUser
		case len(users) > 1:
			return chatcore.UserRef{}, errf(http.StatusConflict, wire.CodeConflict, "several users are named "+strconv.Quote(name)+": give user_id (GET /api/users?q= lists them)")
		}
		return users[0], nil
	case req.UserID <= 0:
		return chatcore.UserRef{}, badRequest("user_id must be a positive integer (or give name)")
	}
	u, err := a.core.cachedUser(ctx, req.UserID)
	if errors.Is(err, chatcore.ErrNotFound) {
		return chatcore.UserRef{}, errNoUser
	}
	if err != nil {
		return chatcore.UserRef{}, err
	}
	return chatcore.UserRef{ID: u.ID, Name: u.Name}, nil
}

var errNoUser = errf(http.StatusNotFound, wire.CodeNotFound, "no such user")

// dmRoom is a direct message's room with the other member.
type dmRoom struct {
	chatcore.Room
	Peer chatcore.UserRef `json:"peer"`
}

// openDM is POST /api/dms {"user_id"} or {"name"}: the caller's direct
// message with that user, created on first ask (201), the same room ever
// after, from either side (200).
func (a *API) openDM(w http.ResponseWriter, r *http.Request, who auth.Claims) error {
	var req userRequest
	if err := a.decode(w, r, &req); err != nil {
		return err
	}
	peer, err := a.resolve(r.Context(), req)
	if err != nil {
		return err
	}
	if peer.ID == who.UserID {
		return badRequest("a direct message needs another user")
	}
	me, err := a.core.cachedUser(r.Context(), who.UserID)
	if errors.Is(err, chatcore.ErrNotFound) {
		return errUnauthorized // a valid token for a deleted user
	}
	if err != nil {
		return err
	}
	first, second := me.Name, peer.Name
	if peer.ID < who.UserID {
		first, second = second, first
	}
	room, created, err := a.core.Store.OpenDM(r.Context(), who.UserID, peer.ID, first+", "+second)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		a.core.dmOpened(r.Context(), room.ID, who.UserID, peer.ID)
		a.core.announceRooms(r.Context(), room.ID, roomsWhyDM, who.UserID, peer.ID)
		status = http.StatusCreated
	}
	writeJSON(w, status, dmRoom{Room: room, Peer: peer})
	return nil
}

// listDMs is GET /api/dms: the caller's direct messages with the other
// member of each. Counters are in GET /api/rooms (kind "dm").
func (a *API) listDMs(w http.ResponseWriter, r *http.Request, who auth.Claims) error {
	dms, err := a.core.Store.DMs(r.Context(), who.UserID)
	if err != nil {
		return err
	}
	setTags(w.Header(), tagDMs(who.UserID))
	writeJSON(w, http.StatusOK, map[string]any{"dms": dms})
	return nil
}
