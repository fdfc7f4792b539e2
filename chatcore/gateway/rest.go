package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/chatgate/chatgate/chatcore"
	"github.com/chatgate/chatgate/chatcore/auth"
	"github.com/chatgate/chatgate/chatcore/store"
	"github.com/chatgate/chatgate/chatcore/wire"
)

// handlerFunc is a route that returns its error instead of writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// authedFunc is a route that needs a valid token.
type authedFunc func(w http.ResponseWriter, r *http.Request, who auth.Claims) error

func (a *API) routes() {
	m := a.mux
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	m.HandleFunc("GET /readyz", a.readyz)
	m.HandleFunc("GET /ws", a.serveWS)

	m.Handle("POST /api/auth/register", a.public(a.register))
	m.Handle("POST /api/auth/login", a.public(a.login))
	m.Handle("POST /api/auth/logout", a.public(a.logout))
	m.Handle("GET /api/me", a.authed(a.me))
	m.Handle("GET /api/users/{id}", a.authed(a.user))
	m.Handle("GET /api/rooms", a.authed(a.listRooms))
	m.Handle("POST /api/rooms", a.authed(a.createRoom))
	m.Handle("GET /api/rooms/{id}", a.authed(a.room))
	m.Handle("POST /api/rooms/{id}/join", a.authed(a.join))
	m.Handle("POST /api/rooms/{id}/leave", a.authed(a.leave))
	m.Handle("GET /api/rooms/{id}/members", a.authed(a.members))
	m.Handle("POST /api/rooms/{id}/members", a.authed(a.invite))
	m.Handle("DELETE /api/rooms/{id}/members/{user}", a.authed(a.removeMember))
	m.Handle("GET /api/rooms/{id}/messages", a.authed(a.messages))
	m.Handle("POST /api/rooms/{id}/messages", a.authed(a.postMessage))
	m.Handle("POST /api/rooms/{id}/read", a.authed(a.markRead))
	m.Handle("GET /api/rooms/{id}/presence", a.authed(a.presence))
	// Anything else Handles sends here (any other path, any case: /API/x,
	// /Healthz) is a JSON 404, and a known path with the wrong method a
	// JSON 405, never the mux's plain-text answers or its redirect of
	// /api to /api/.
	a.notFound = a.public(func(http.ResponseWriter, *http.Request) error {
		return errf(http.StatusNotFound, wire.CodeNotFound, "no such endpoint")
	})
	m.Handle("/", a.notFound)
	m.Handle("/api", a.notFound)
	for _, p := range []string{"/api/auth/register", "/api/auth/login", "/api/auth/logout", "/api/me",
		"/api/users/{id}", "/api/rooms", "/api/rooms/{id}", "/api/rooms/{id}/join", "/api/rooms/{id}/leave",
		"/api/rooms/{id}/members", "/api/rooms/{id}/members/{user}", "/api/rooms/{id}/messages", "/api/rooms/{id}/read", "/api/rooms/{id}/presence", "/ws", "/healthz", "/readyz"} {
		m.Handle(p, a.public(func(http.ResponseWriter, *http.Request) error {
			return errf(http.StatusMethodNotAllowed, wire.CodeBadRequest, "method not allowed")
		}))
	}
}

// public serves a route under the per-address request limit, refusing
// forged cross-site writes (checkSite).
func (a *API) public(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := a.allowIPRequest(r)
		if err == nil {
			if ae := a.checkSite(r); ae != nil {
				err = ae
			}
		}
		if err == nil {
			err = h(w, r)
		}
		if err != nil {
			a.writeError(w, r, err)
		}
	})
}

func (a *API) authed(h authedFunc) http.Handler {
	return a.public(func(w http.ResponseWriter, r *http.Request) error {
		claims, err := a.core.Signer.Verify(auth.FromRequest(r, false))
		if err != nil {
			if errors.Is(err, auth.ErrExpiredToken) {
				return errf(http.StatusUnauthorized, wire.CodeUnauthorized, "token expired")
			}
			return errUnauthorized
		}
		if err := a.allowUserRequest(r.Context(), claims.UserID); err != nil {
			return err
		}
		return h(w, r, claims)
	})
}

func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	if a.isDraining() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.core.Ready(ctx); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// decode reads a JSON body under the request size limit.
func (a *API) decode(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, a.cfg.MaxRequest)
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errf(http.StatusRequestEntityTooLarge, wire.CodeTooLarge, "request body too large")
		}
		return badRequest("reading the request body: " + err.Error())
	}
	// encoding/json would quietly turn invalid bytes into U+FFFD and store
	// a message garbled; the WebSocket path refuses them too.
	if !utf8.Valid(raw) {
		return badRequest("request body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	err = dec.Decode(v)
	trailing := false
	if err == nil {
		// Only white space may follow, within the limit too (dec.More
		// would let a stray '}' or ']' through, and stop at the limit).
		if _, err = dec.Token(); errors.Is(err, io.EOF) {
			// One valid value: now refuse one that means two things.
			key, dup, err := wire.DuplicateKey(raw)
			if err != nil {
				return badRequest("malformed JSON: " + err.Error())
			}
			if dup {
				return badRequest(fmt.Sprintf("malformed JSON: duplicate key %q", shorten(key)))
			}
			return nil
		}
		trailing = true
	}
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return errf(http.StatusRequestEntityTooLarge, wire.CodeTooLarge, "request body too large")
	case trailing:
		return badRequest("malformed JSON: trailing data after the object")
	case errors.Is(err, io.EOF):
		return badRequest("empty request body")
	default:
		return badRequest("malformed JSON: " + err.Error())
	}
}

func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, badRequest("id must be a positive integer")
	}
	return id, nil
}

type authRequest struct {
	Name     string `json:"name"`
	Email    string `json:"email"`
	Password string `json:"password"`
}

type authResponse struct {
	User  chatcore.User `json:"user"`
	Token string        `json:"token"`
}

func (a *API) register(w http.ResponseWriter, r *http.Request) error {
	var req authRequest
	if err := a.decode(w, r, &req); err != nil {
		return err
	}
	if err := a.allowAuth(r); err != nil {
		return err
	}
	name, ae := cleanName("name", req.Name, 64)
	if ae != nil {
		return ae
	}
	if ae := checkEmailChars(req.Email); ae != nil {
		return ae
	}
	// Validated in the form it is stored and compared in, so what passes
	// is what the unique index sees.
	email := store.NormEmail(req.Email)
	switch {
	case len(email) > 254 || !validEmail(email):
		return badRequest("email is not a valid address")
	case len(req.Password) < minPassword || len(req.Password) > maxPassword:
		return badRequest(fmt.Sprintf("password must be %d to %d bytes", minPassword, maxPassword))
	}
	hash, err := a.core.hasher.Hash(r.Context(), req.Password)
	if err != nil {
		return a.hashErr(err)
	}
	u, err := a.core.Store.CreateUser(r.Context(), name, email, hash)
	if errors.Is(err, chatcore.ErrConflict) {
		return errf(http.StatusConflict, wire.CodeConflict, "email already registered")
	}
	if err != nil {
		return err
	}
	a.issue(w, r, http.StatusCreated, u)
	return nil
}

// Password length rules: long enough to resist guessing under the login
// throttle, short enough that hashing one is not a denial of service.
const (
	minPassword = 8
	maxPassword = 1024
)

func validEmail(s string) bool {
	addr, err := mail.ParseAddress(s)
	return err == nil && addr.Address == s && strings.Contains(s, "@")
}

func (a *API) login(w http.ResponseWriter, r *http.Request) error {
	var req authRequest
	if err := a.decode(w, r, &req); err != nil {
		return err
	}
	bad := errf(http.StatusUnauthorized, wire.CodeUnauthorized, "wrong email or password")
	// A NUL or control character can be in no account's address: say so
	// (400) rather than let Postgres refuse it; it tells nothing about
	// which accounts exist.
	if ae := checkEmailChars(req.Email); ae != nil {
		return ae
	}
	// The throttle and the lookup see the stored form, so "Ann@x",
	// "ann@x" and a decomposed spelling share one account's bucket. No
	// address is longer than 254 bytes; a longer one would only make a
	// long limiter key.
	email := store.NormEmail(req.Email)
	if email == "" || req.Password == "" || len(req.Password) > maxPassword || len(email) > 254 {
		return bad
	}
	if err := a.allowAuth(r); err != nil {
		return err
	}
	// The hashing slot next: past the bound a login is refused before it
	// costs a Redis call or a query.
	release, err := a.core.hasher.Acquire(r.Context())
	if err != nil {
		return a.hashErr(err)
	}
	defer release()
	if err := a.allowLogin(r, email); err != nil {
		return err
	}
	u, err := a.core.Store.UserByEmail(r.Context(), email)
	if errors.Is(err, chatcore.ErrNotFound) {
		// Hash anyway, so an unknown address takes as long as a wrong
		// password and the timing does not tell which accounts exist.
		_, _ = auth.CheckPassword(a.core.dummyHash(), req.Password)
		a.loginFailed(r, email)
		return bad
	}
	if err != nil {
		return err
	}
	ok, err := auth.CheckPassword(u.PasswordHash, req.Password)
	if err != nil || !ok {
		a.loginFailed(r, email)
		return bad
	}
	a.issue(w, r, http.StatusOK, u)
	return nil
}

// hashErr answers a register or login that found every hashing slot and
// the queue taken: 503 with Retry-After, so the client comes back shortly.
func (a *API) hashErr(err error) error {
	if !errors.Is(err, auth.ErrBusy) {
		return err
	}
	a.core.Metrics.RateLimited.WithLabelValues("password_hashing").Inc()
	e := errf(http.StatusServiceUnavailable, wire.CodeUnavailable, "too many sign-ins in progress, retry shortly")
	e.retry = time.Second
	return e
}

// issue answers with a fresh token and sets it as the browser cookie.
func (a *API) issue(w http.ResponseWriter, r *http.Request, status int, u chatcore.User) {
	tok, exp := a.core.Signer.Issue(u.ID, u.Name)
	http.SetCookie(w, &http.Cookie{Name: auth.CookieName, Value: tok, Path: "/", Expires: exp,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: a.secureCookie(r)})
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, authResponse{User: chatcore.User{ID: u.ID, Name: u.Name, Email: u.Email}, Token: tok})
}

func (a *API) logout(w http.ResponseWriter, r *http.Request) error {
	http.SetCookie(w, &http.Cookie{Name: auth.CookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: a.secureCookie(r)})
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	return nil
}

// secureCookie: a cookie set over TLS must never travel over plain HTTP.
// X-Forwarded-Proto can only make the flag stricter, so trusting it from
// anyone is harmless.
func (a *API) secureCookie(r *http.Request) bool {
	return a.cfg.SecureCookie || r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func (a *API) me(w http.ResponseWriter, r *http.Request, who auth.Claims) error {
	u, err := a.core.cachedUser(r.Context(), who.UserID)
	if errors.Is(err, chatcore.ErrNotFound) {
		return errUnauthorized // a valid token for a deleted user
	}
	if err != nil {
		return err
	}
	setTags(w.Header(), tagUser(who.UserID))
	writeJSON(w, http.StatusOK, chatcore.User{ID: u.ID, Name: u.Name, Email: u.Email})
	return nil
}

func (a *API) user(w http.ResponseWriter, r *http.Request, _ auth.Claims) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	u, err := a.core.cachedUser(r.Context(), id)
	if errors.Is(err, chatcore.ErrNotFound) {
		return errf(http.StatusNotFound, wire.CodeNotFound, "no such user")
	}
	if err != nil {
		return err
	}
	setTags(w.Header(), tagUser(id))
	writeJSON(w, http.StatusOK, chatcore.UserRef{ID: u.ID, Name: u.Name})
	return nil
}

func (a *API) listRooms(w http.ResponseWriter, r *http.Request, who auth.Claims) error {
	rooms, err := a.core.Store.ListRooms(r.Context(), who.UserID)
	if err != nil {
		return err
	}
	if rooms == nil {
		rooms = []chatcore.Room{}
	}
	setTags(w.Header(), tagRoomList, tagUser(who.UserID))
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
	setTags(w.Header(), tagRoom(id))
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
	var req struct {
		UserID int64 `json:"user_id"`
	}
	if err := a.decode(w, r, &req); err != nil {
		return err
	}
	if req.UserID <= 0 {
		return badRequest("user_id must be a positive integer")
	}
	if err := a.authorize(r.Context(), id, who); err != nil {
		return err
	}
	if _, err := a.core.cachedUser(r.Context(), req.UserID); errors.Is(err, chatcore.ErrNotFound) {
		return errf(http.StatusNotFound, wire.CodeNotFound, "no such user")
	} else if err != nil {
		return err
	}
	if _, err := a.core.Store.Join(r.Context(), id, req.UserID, chatcore.RoleMember); err != nil {
		return err
	}
	a.core.membershipChanged(r.Context(), id, req.UserID)
	writeJSON(w, http.StatusOK, map[string]any{"room": id, "user_id": req.UserID, "joined": true})
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

func (a *API) messages(w http.ResponseWriter, r *http.Request, who auth.Claims) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	p, ae := parsePage(r.URL.Query())
	if ae != nil {
		return ae
	}
	if err := a.authorize(r.Context(), id, who); err != nil {
		return err
	}
	var msgs []chatcore.Message
	var more bool
	if p.hasAfter {
		msgs, more, err = a.core.Store.AfterRead(r.Context(), id, p.after, p.limit)
	} else {
		msgs, more, err = a.core.Store.HistoryRead(r.Context(), id, p.before, p.limit)
	}
	if err != nil {
		return err
	}
	out := make([]wire.Msg, len(msgs))
	for i := range msgs {
		out[i] = wire.FromMessage(&msgs[i])
	}
	if p.hasBefore && belowNewest(msgs, p.before) {
		// A page wholly below the newest message never changes (messages
		// are immutable, seqs gap-free and committed in order); only who
		// may read it does.
		setTags(w.Header(), tagMembers(id))
	} else {
		setTags(w.Header(), tagRoom(id))
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": out, "has_more": more})
	return nil
}

// belowNewest reports whether a history page (newest first) below before
// is complete for good: it holds seq before-1, so every seq under before
// exists already. A before of 0 or past the newest message asks for the
// newest page, which the next message changes.
func belowNewest(msgs []chatcore.Message, before int64) bool {
	if len(msgs) == 0 {
		return before == 1
	}
	return before > 0 && msgs[0].Seq == before-1
}

// page is the window GET /api/rooms/{id}/messages asks for: up to limit
// messages below before (newest first; none: from the newest) or above
// after (oldest first), never both.
type page struct {
	limit               int
	before, after       int64
	hasBefore, hasAfter bool
}

// parsePage reads limit (1 to 200, default 50), before and after from the
// query.
func parsePage(q url.Values) (page, *apiError) {
	p := page{limit: 50}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 200 {
			return page{}, badRequest("limit must be an integer from 1 to 200")
		}
		p.limit = n
	}
	var ae *apiError
	if p.before, p.hasBefore, ae = seqParam(q.Get("before"), "before"); ae != nil {
		return page{}, ae
	}
	if p.after, p.hasAfter, ae = seqParam(q.Get("after"), "after"); ae != nil {
		return page{}, ae
	}
	if p.hasBefore && p.hasAfter {
		return page{}, badRequest("give before or after, not both")
	}
	return p, nil
}

func seqParam(s, name string) (int64, bool, *apiError) {
	if s == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, false, badRequest(name + " must be a non-negative integer")
	}
	return n, true, nil
}

func (a *API) postMessage(w http.ResponseWriter, r *http.Request, who auth.Claims) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req struct {
		Body string `json:"body"`
		CID  string `json:"cid"`
	}
	if err := a.decode(w, r, &req); err != nil {
		return err
	}
	// The REST adapter of the send use case (send.go): it answers once the
	// message is stored and its room's caches are invalidated.
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	res, err := a.sender().sendSync(ctx, outgoing{room: id, who: who, body: req.Body, cid: req.CID})
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if res.Duplicate {
		status = http.StatusOK
	}
	writeJSON(w, status, wire.FromMessage(&res.Msg))
	return nil
}

func (a *API) markRead(w http.ResponseWriter, r *http.Request, who auth.Claims) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req struct {
		Seq int64 `json:"seq"`
	}
	if err := a.decode(w, r, &req); err != nil {
		return err
	}
	if req.Seq < 0 {
		return badRequest("seq must be a non-negative integer")
	}
	if err := a.authorize(r.Context(), id, who); err != nil {
		return err
	}
	if err := a.core.Store.MarkRead(r.Context(), id, who.UserID, req.Seq); err != nil {
		return err
	}
	a.core.readMarked(r.Context(), who.UserID)
	writeJSON(w, http.StatusOK, map[string]any{"room": id, "last_read_seq": req.Seq})
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
