package gateway

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/chatgate/chatgate/chatcore"
	"github.com/chatgate/chatgate/chatcore/auth"
	"github.com/chatgate/chatgate/chatcore/socket"
	"github.com/chatgate/chatgate/chatcore/wire"
)

// Sessions: tokens are stateless and every instance verifies their
// signature alone, but each carries the session generation of its user
// (auth.Claims.Gen, users.token_gen) when it was issued. Ending a user's
// sessions (POST /api/auth/sessions/end, a password change) moves the
// generation on in Postgres and drops it from the token_gen entity cache on
// every instance; from then on every path that takes a token (the API, the
// WebSocket handshake, the response cache's identity) refuses the older
// ones with 401 / close 4401, and every instance closes the user's live
// WebSockets opened with them, 4401 as well.
//
// A generation that no level of the cache can give (this instance's own,
// which is bypassed while the bus is down; Redis; Postgres) does not
// refuse the token: an outage must not sign everybody out. The signature and the
// expiry still hold; SECURITY.md says so.

// Authenticate verifies token and that its session has not been ended.
// Errors: auth.ErrInvalidToken, auth.ErrExpiredToken, auth.ErrEndedToken.
func (c *Core) Authenticate(ctx context.Context, token string) (auth.Claims, error) {
	claims, err := c.Signer.Verify(token)
	if err != nil {
		return claims, err
	}
	if c.sessionEnded(ctx, claims) {
		return auth.Claims{}, auth.ErrEndedToken
	}
	return claims, nil
}

// sessionEnded reports whether claims' session generation is below its
// user's (a user that does not exist has no valid session).
func (c *Core) sessionEnded(ctx context.Context, claims auth.Claims) bool {
	gen, err := c.tokenGen(ctx, claims.UserID)
	switch {
	case errors.Is(err, chatcore.ErrNotFound):
		return true
	case err != nil:
		c.log.Debug("gateway: session generation unknown; token accepted on its signature", zap.Int64("user", claims.UserID), zap.Error(err))
		return false
	}
	return claims.Gen < gen
}

// tokenGen is user's session generation, through the token_gen cache.
func (c *Core) tokenGen(ctx context.Context, user int64) (int64, error) {
	return c.caches().tokenGens.Get(ctx, idKey(user), func(ctx context.Context, _ string) (int64, error) {
		got, err := c.Store.TokenGens(ctx, []int64{user})
		return one(got, user, err)
	})
}

// EndSessions ends every session of user (and, with passwordHash, sets a
// new password in the same statement): the generation moves on in
// Postgres, then its cache entry is dropped on every instance, whose
// ender then closes the user's older WebSockets. It returns the user as
// stored now, to issue the caller's new token under the new generation.
func (c *Core) EndSessions(ctx context.Context, user int64, passwordHash string) (chatcore.User, error) {
	u, err := c.Store.EndSessions(ctx, user, passwordHash)
	if err != nil {
		return u, err
	}
	k := c.caches()
	k.logErr("token_gen", k.tokenGens.Invalidate(ctx, idKey(user)))
	return u, nil
}

// sessionEnder closes this instance's WebSockets whose session has ended.
// It is told by the token_gen cache's invalidations (from any instance)
// and sweeps every connection after the invalidation channel was lost.
type sessionEnder struct {
	c *Core

	mu      sync.Mutex
	pending map[int64]struct{}
	sweep   bool
	running bool
}

// check queues users whose generation may have moved. It runs on the
// invalidation channel's reader, so it only queues.
func (e *sessionEnder) check(ids []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.pending == nil {
		e.pending = make(map[int64]struct{})
	}
	for _, id := range ids {
		if u, err := strconv.ParseInt(id, 10, 64); err == nil && e.c.hasInbox(u) {
			e.pending[u] = struct{}{}
		}
	}
	e.startLocked()
}

// checkAll queues every local user (invalidations may have been missed).
func (e *sessionEnder) checkAll() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sweep = true
	e.startLocked()
}

func (e *sessionEnder) startLocked() {
	if e.running || (len(e.pending) == 0 && !e.sweep) {
		return
	}
	e.running = true
	go e.run()
}

func (e *sessionEnder) run() {
	for {
		e.mu.Lock()
		users := make([]int64, 0, len(e.pending))
		for u := range e.pending {
			users = append(users, u)
		}
		if e.sweep {
			users = e.c.inboxUsers()
		}
		clear(e.pending)
		e.sweep = false
		if len(users) == 0 {
			e.running = false
			e.mu.Unlock()
			return
		}
		e.mu.Unlock()
		e.end(users)
	}
}

// end reads users' generations from Postgres (never a cache: the cache is
// what was just dropped, and may still be refilling from a reader that
// raced the bump) and closes their connections opened under older ones.
func (e *sessionEnder) end(users []int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	gens, err := e.c.Store.TokenGens(ctx, users)
	if err != nil {
		e.c.log.Warn("gateway: reading session generations failed; ended sessions' sockets stay open until the next check", zap.Error(err))
		return
	}
	var ended []*socket.Conn
	in := &e.c.inbox
	in.mu.Lock()
	for _, u := range users {
		gen, ok := gens[u]
		for conn, connGen := range in.conns[u] {
			if !ok || connGen < gen {
				ended = append(ended, conn)
			}
		}
	}
	in.mu.Unlock()
	for _, conn := range ended {
		conn.CloseWith(wire.CloseUnauthorized, "unauthorized: session ended")
	}
	if len(ended) > 0 {
		e.c.log.Info("gateway: closed the sockets of ended sessions", zap.Int("sockets", len(ended)))
	}
}

// hasInbox reports whether user has a connection on this instance.
func (c *Core) hasInbox(user int64) bool {
	c.inbox.mu.Lock()
	defer c.inbox.mu.Unlock()
	return len(c.inbox.conns[user]) > 0
}

// inboxUsers lists the users with a connection on this instance.
func (c *Core) inboxUsers() []int64 {
	c.inbox.mu.Lock()
	defer c.inbox.mu.Unlock()
	out := make([]int64, 0, len(c.inbox.conns))
	for u := range c.inbox.conns {
		out = append(out, u)
	}
	return out
}
