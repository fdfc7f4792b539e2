package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/chatgate/chatgate/chatcore/auth"
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
	m.Handle("POST /api/auth/sessions/end", a.authed(a.endSessions))
	m.Handle("POST /api/auth/password", a.authed(a.changePassword))
	m.Handle("GET /api/me", a.authed(a.me))
	m.Handle("GET /api/users", a.authed(a.searchUsers))
	m.Handle("GET /api/users/{id}", a.authed(a.user))
	m.Handle("GET /api/dms", a.authed(a.listDMs))
	m.Handle("POST /api/dms", a.authed(a.openDM))
	m.Handle("GET /api/rooms", a.authed(a.listRooms))
	m.Handle("POST /api/rooms", a.authed(a.createRoom))
	m.Handle("GET /api/rooms/{id}", a.authed(a.room))
	m.Handle("PATCH /api/rooms/{id}", a.authed(a.updateRoom))
	m.Handle("DELETE /api/rooms/{id}", a.authed(a.deleteRoom))
	m.Handle("POST /api/rooms/{id}/join", a.authed(a.join))
	m.Handle("POST /api/rooms/{id}/leave", a.authed(a.leave))
	m.Handle("GET /api/rooms/{id}/members", a.authed(a.members))
	m.Handle("POST /api/rooms/{id}/members", a.authed(a.invite))
	m.Handle("DELETE /api/rooms/{id}/members/{user}", a.authed(a.removeMember))
	m.Handle("GET /api/rooms/{id}/messages", a.authed(a.messages))
	m.Handle("POST /api/rooms/{id}/messages", a.authed(a.postMessage))
	m.Handle("PATCH /api/rooms/{id}/messages/{seq}", a.authed(a.editMessage))
	m.Handle("DELETE /api/rooms/{id}/messages/{seq}", a.authed(a.deleteMessage))
	m.Handle("PUT /api/rooms/{id}/messages/{seq}/reactions/{emoji}", a.authed(a.addReaction))
	m.Handle("DELETE /api/rooms/{id}/messages/{seq}/reactions/{emoji}", a.authed(a.removeReaction))
	m.Handle("POST /api/rooms/{id}/read", a.authed(a.markRead))
	m.Handle("GET /api/rooms/{id}/presence", a.authed(a.presence))
	m.Handle("POST /api/rooms/{id}/files", a.authedUpload(a.uploadFile))
	m.Handle("GET /api/rooms/{id}/files/{file}", a.authed(a.file))
	m.Handle("GET /api/search", a.authed(a.search))
	// Anything else Handles sends here (any other path, any case: /API/x,
	// /Healthz) is a JSON 404, and a known path with the wrong method a
	// JSON 405, never the mux's plain-text answers or its redirect of
	// /api to /api/.
	a.notFound = a.public(func(http.ResponseWriter, *http.Request) error {
		return errf(http.StatusNotFound, wire.CodeNotFound, "no such endpoint")
	})
	m.Handle("/", a.notFound)
	m.Handle("/api", a.notFound)
	for _, p := range []string{"/api/auth/register", "/api/auth/login", "/api/auth/logout", "/api/auth/sessions/end", "/api/auth/password", "/api/me",
		"/api/users", "/api/users/{id}", "/api/dms", "/api/rooms", "/api/rooms/{id}", "/api/rooms/{id}/join", "/api/rooms/{id}/leave",
		"/api/rooms/{id}/members", "/api/rooms/{id}/members/{user}", "/api/rooms/{id}/messages", "/api/rooms/{id}/messages/{seq}", "/api/rooms/{id}/messages/{seq}/reactions/{emoji}", "/api/rooms/{id}/read", "/api/rooms/{id}/presence", "/api/search", "/api/rooms/{id}/files", "/api/rooms/{id}/files/{file}", "/ws", "/healthz", "/readyz"} {
		m.Handle(p, a.public(func(http.ResponseWriter, *http.Request) error {
			return errf(http.StatusMethodNotAllowed, wire.CodeBadRequest, "method not allowed")
		}))
	}
}

// public serves a route under the per-address request limit, refusing
// forged cross-site writes (checkSite).
func (a *API) public(h handlerFunc) http.Handler {
	return a.limited(a.checkSite, h)
}

// limited serves a route under the per-address request limit, then the
// site check (checkSite, or checkUploadSite for uploads).
func (a *API) limited(site func(*http.Request) *apiError, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := a.allowIPRequest(r)
		if err == nil {
			if ae := site(r); ae != nil {
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
	return a.public(a.verified(h))
}

// authedUpload is authed for a route whose body is a file, not JSON
// (checkUploadSite).
func (a *API) authedUpload(h authedFunc) http.Handler {
	return a.limited(a.checkUploadSite, a.verified(h))
}

// verified runs h with the request's verified token, under the per-user
// request limit.
func (a *API) verified(h authedFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		claims, err := a.core.Authenticate(r.Context(), auth.FromRequest(r, false))
		if err != nil {
			switch {
			case errors.Is(err, auth.ErrExpiredToken):
				return errf(http.StatusUnauthorized, wire.CodeUnauthorized, "token expired")
			case errors.Is(err, auth.ErrEndedToken):
				return errf(http.StatusUnauthorized, wire.CodeUnauthorized, "session ended: sign in again")
			}
			return errUnauthorized
		}
		if err := a.allowUserRequest(r.Context(), claims.UserID); err != nil {
			return err
		}
		return h(w, r, claims)
	}
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
