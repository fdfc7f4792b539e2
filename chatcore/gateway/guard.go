package gateway

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/chatgate/chatgate/chatcore/limits"
	"github.com/chatgate/chatgate/chatcore/wire"
)

// Limits are the abuse limits of one site. A zero field takes its default;
// a negative rate or count turns that limit off. Buckets and connection
// counts are shared by every instance through Redis when it is configured.
type Limits struct {
	// IPConns caps concurrent WebSockets per client address (IPv6: per
	// /64) (1000: generous, since a NAT may hide a whole office).
	IPConns int
	// IPConnectRate limits WebSocket handshakes per client address
	// (50/s, burst 500, so a reconnect storm behind one NAT gets through).
	IPConnectRate limits.Rate
	// IPRequestRate and UserRequestRate limit REST requests per client
	// address (300/s, burst 3000) and per signed-in user (100/s, burst
	// 1000: the client's jump to the start of a 100,000-message room
	// pages through it, 500 requests at once).
	IPRequestRate   limits.Rate
	UserRequestRate limits.Rate
	// AuthIPRate limits register and login attempts per client address
	// (2/s, burst 20): each costs an argon2id hash.
	AuthIPRate limits.Rate
	// LoginAccountIPRate limits failed logins per account (email) from one
	// client address (5/m, burst 10): password guessing from one place,
	// which leaves the account's owner, elsewhere, unaffected.
	LoginAccountIPRate limits.Rate
	// LoginAccountRate is the ceiling on failed logins per account from
	// all addresses together (30/m, burst 60): guessing spread over many
	// addresses. It is six times LoginAccountIPRate, so locking the owner
	// out takes failures from more than six addresses (IPv6: /64s) at once.
	LoginAccountRate limits.Rate
	// MaxRooms caps the rooms one connection subscribes to at once (128).
	MaxRooms int
	// CommandRate limits a connection's frames other than sends, which
	// have their own bucket (100/s, burst 200).
	CommandRate limits.Rate
	// UploadRate limits file uploads per user, across instances (1/s,
	// burst 20).
	UploadRate limits.Rate
	// SearchRate limits searches per signed-in user (5/s, burst 20): each
	// is a few ms of Postgres, more than any other read, and is never
	// cached.
	SearchRate limits.Rate
	// HandshakeTimeout bounds the WebSocket upgrade (10s).
	HandshakeTimeout time.Duration
}

func (l *Limits) setDefaults() {
	rate := func(r *limits.Rate, perSecond float64, burst int) {
		if r.PerSecond == 0 {
			*r = limits.Rate{PerSecond: perSecond, Burst: burst}
		}
	}
	if l.IPConns == 0 {
		l.IPConns = 1000
	}
	rate(&l.IPConnectRate, 50, 500)
	rate(&l.IPRequestRate, 300, 3000)
	rate(&l.UserRequestRate, 100, 1000)
	rate(&l.AuthIPRate, 2, 20)
	rate(&l.LoginAccountIPRate, 5.0/60, 10)
	rate(&l.LoginAccountRate, 0.5, 60)
	if l.MaxRooms == 0 {
		l.MaxRooms = 128
	}
	rate(&l.CommandRate, 100, 200)
	rate(&l.UploadRate, 1, 20)
	rate(&l.SearchRate, 5, 20)
	if l.HandshakeTimeout <= 0 {
		l.HandshakeTimeout = 10 * time.Second
	}
}

// clientIP is the address limits count a request under: the configured
// resolver's (Caddy's client_ip, which honours trusted_proxies), else the
// peer address.
func (a *API) clientIP(r *http.Request) string {
	if a.cfg.ClientIP != nil {
		if ip := a.cfg.ClientIP(r); ip != "" {
			return limits.ClientKey(ip)
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return limits.ClientKey(host)
}

// allow takes a token from key's bucket, or returns a 429 that says when
// to retry.
func (a *API) allow(ctx context.Context, scope, key string, r limits.Rate, msg string) error {
	ok, retry := a.core.Limits.Allow(ctx, scope+":"+key, r)
	if ok {
		return nil
	}
	a.core.Metrics.RateLimited.WithLabelValues(scope).Inc()
	e := errf(http.StatusTooManyRequests, wire.CodeRateLimited, msg)
	e.retry = max(retry, time.Second)
	return e
}

func (a *API) allowIPRequest(r *http.Request) error {
	return a.allow(r.Context(), "rest_ip", a.clientIP(r), a.cfg.Limits.IPRequestRate, "too many requests from this address, slow down")
}

func (a *API) allowUserRequest(ctx context.Context, user int64) error {
	return a.allow(ctx, "rest_user", strconv.FormatInt(user, 10), a.cfg.Limits.UserRequestRate, "too many requests, slow down")
}

// allowAuth throttles register and login attempts per address, before any
// password is hashed.
func (a *API) allowAuth(r *http.Request) error {
	return a.allow(r.Context(), "auth_ip", a.clientIP(r), a.cfg.Limits.AuthIPRate, "too many sign-in attempts from this address, try again later")
}

// loginKeys are the failed-login buckets of an attempt: the account from
// this address, and the account from anywhere. email is in its stored
// form (store.NormEmail), so every spelling of one address shares them.
func (a *API) loginKeys(r *http.Request, email string) (pair, account string) {
	return email + "|" + a.clientIP(r), email
}

// allowLogin refuses a login whose account has failed too often from this
// address, or from everywhere, without counting the attempt: only failures
// are charged (loginFailed), so the owner's own logins never lock them out.
func (a *API) allowLogin(r *http.Request, email string) error {
	pair, account := a.loginKeys(r, email)
	l := a.cfg.Limits
	for _, c := range []struct {
		scope, key string
		rate       limits.Rate
	}{{"login_account_ip", pair, l.LoginAccountIPRate}, {"login_account", account, l.LoginAccountRate}} {
		if ok, retry := a.core.Limits.Peek(r.Context(), c.scope+":"+c.key, c.rate); !ok {
			a.core.Metrics.RateLimited.WithLabelValues(c.scope).Inc()
			e := errf(http.StatusTooManyRequests, wire.CodeRateLimited, "too many failed sign-ins for this account, try again later")
			e.retry = max(retry, time.Second)
			return e
		}
	}
	return nil
}

// loginFailed charges a failed login to its buckets.
func (a *API) loginFailed(r *http.Request, email string) {
	pair, account := a.loginKeys(r, email)
	a.core.Limits.Allow(r.Context(), "login_account_ip:"+pair, a.cfg.Limits.LoginAccountIPRate)
	a.core.Limits.Allow(r.Context(), "login_account:"+account, a.cfg.Limits.LoginAccountRate)
}

// allowUpload counts one upload against the user's bucket.
func (a *API) allowUpload(ctx context.Context, user int64) error {
	return a.allow(ctx, "upload", strconv.FormatInt(user, 10), a.cfg.Limits.UploadRate, "too many uploads, slow down")
}

// allowUserSend counts one message against the user's bucket, shared by
// their connections, REST and every instance.
func (a *API) allowUserSend(ctx context.Context, user int64) bool {
	r := limits.Rate{PerSecond: float64(a.cfg.UserSendRate), Burst: 2 * a.cfg.UserSendRate}
	ok, _ := a.core.Limits.Allow(ctx, "user_send:"+strconv.FormatInt(user, 10), r)
	if !ok {
		a.core.Metrics.RateLimited.WithLabelValues("user_send").Inc()
	}
	return ok
}

// admitConn applies the per-address handshake rate and connection cap. On
// success release must be called when the connection ends.
func (a *API) admitConn(r *http.Request) (release func(), err error) {
	ip := a.clientIP(r)
	if err := a.allow(r.Context(), "ip_connect", ip, a.cfg.Limits.IPConnectRate, "too many connection attempts from this address, retry later"); err != nil {
		return nil, err
	}
	release, ok := a.core.Conns.Acquire(r.Context(), ip, a.cfg.Limits.IPConns)
	if !ok {
		a.core.Metrics.RateLimited.WithLabelValues("ip_conns").Inc()
		e := errf(http.StatusTooManyRequests, wire.CodeRateLimited, "too many open connections from this address")
		e.retry = 5 * time.Second
		return nil, e
	}
	return release, nil
}
