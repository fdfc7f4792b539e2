package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"github.com/chatgate/chatgate/chatcore"
	"github.com/chatgate/chatgate/chatcore/auth"
	"github.com/chatgate/chatgate/chatcore/store"
	"github.com/chatgate/chatgate/chatcore/wire"
)

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
	a.core.userRegistered(r.Context())
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

// issue answers with a fresh token, under the user's current session
// generation, and sets it as the browser cookie.
func (a *API) issue(w http.ResponseWriter, r *http.Request, status int, u chatcore.User) {
	tok, exp := a.core.Signer.IssueGen(u.ID, u.Name, u.TokenGen)
	http.SetCookie(w, &http.Cookie{Name: auth.CookieName, Value: tok, Path: "/", Expires: exp,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: a.secureCookie(r)})
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, authResponse{User: chatcore.User{ID: u.ID, Name: u.Name, Email: u.Email}, Token: tok})
}

func (a *API) logout(w http.ResponseWriter, r *http.Request) error {
	a.clearCookie(w, r)
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	return nil
}

func (a *API) clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: auth.CookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: a.secureCookie(r)})
}

// endSessions signs the caller out everywhere: every token of theirs,
// this one included, is refused from now on by every instance, and their
// WebSockets are closed with 4401 (sessions.go).
func (a *API) endSessions(w http.ResponseWriter, r *http.Request, who auth.Claims) error {
	if _, err := a.core.EndSessions(r.Context(), who.UserID, ""); err != nil {
		if errors.Is(err, chatcore.ErrNotFound) {
			return errUnauthorized
		}
		return err
	}
	a.clearCookie(w, r)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	return nil
}

// changePassword sets a new password after checking the current one,
// under the login's limits (a guess here is a guess at the password), and
// ends every other session: the answer carries the one token that is
// still good, as a login's does.
func (a *API) changePassword(w http.ResponseWriter, r *http.Request, who auth.Claims) error {
	var req struct {
		Password    string `json:"password"`
		NewPassword string `json:"new_password"`
	}
	if err := a.decode(w, r, &req); err != nil {
		return err
	}
	if len(req.NewPassword) < minPassword || len(req.NewPassword) > maxPassword {
		return badRequest(fmt.Sprintf("new_password must be %d to %d bytes", minPassword, maxPassword))
	}
	if req.Password == "" || len(req.Password) > maxPassword {
		return errf(http.StatusForbidden, wire.CodeForbidden, "wrong password")
	}
	if err := a.allowAuth(r); err != nil {
		return err
	}
	u, err := a.core.Store.UserByID(r.Context(), who.UserID)
	if errors.Is(err, chatcore.ErrNotFound) {
		return errUnauthorized
	}
	if err != nil {
		return err
	}
	if err := a.checkPassword(r, u, req.Password); err != nil {
		return err
	}
	hash, err := a.core.hasher.Hash(r.Context(), req.NewPassword)
	if err != nil {
		return a.hashErr(err)
	}
	u, err = a.core.EndSessions(r.Context(), u.ID, hash)
	if err != nil {
		return err
	}
	a.issue(w, r, http.StatusOK, u)
	return nil
}

// checkPassword checks u's current password in a hashing slot and under
// the per-account login limits; a wrong one is 403 (the caller's token is
// fine, so not 401) and counts as a failed login.
func (a *API) checkPassword(r *http.Request, u chatcore.User, password string) error {
	release, err := a.core.hasher.Acquire(r.Context())
	if err != nil {
		return a.hashErr(err)
	}
	defer release()
	if err := a.allowLogin(r, u.Email); err != nil {
		return err
	}
	ok, err := auth.CheckPassword(u.PasswordHash, password)
	if err != nil || !ok {
		a.loginFailed(r, u.Email)
		return errf(http.StatusForbidden, wire.CodeForbidden, "wrong password")
	}
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
