package gateway

import (
	"context"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"

	"github.com/chatgate/chatgate/chatcore/socket"
	"github.com/chatgate/chatgate/chatcore/wire"
)

// APIConfig is the per-site part of the service (it may differ between two
// sites of one process, and changes on reload without touching pools).
type APIConfig struct {
	Socket socket.Config
	// MaxBody is the largest message body in bytes (default 4096).
	MaxBody int
	// MaxRequest caps REST request bodies (default 64 KiB).
	MaxRequest int64
	// MaxFile caps one upload (default 10 MiB), enforced while streaming.
	MaxFile int64
	// EditWindow is how long after sending a message its author may edit
	// it (default 1h; negative: no limit).
	EditWindow time.Duration
	// MaxReactions bounds the distinct emoji on one message (default 20).
	MaxReactions int
	// SendRate and SendBurst limit messages per connection (20/s, 40).
	SendRate  float64
	SendBurst int
	// UserSendRate limits one user's messages per second across all their
	// connections and, with Redis, all instances (50; negative: off).
	UserSendRate int
	// Compression enables permessage-deflate for clients that offer it.
	Compression bool
	// CheckOrigin, when set, replaces the same-origin check on upgrades.
	CheckOrigin func(r *http.Request) bool
	// Origins are origins other than the request's own from which a
	// cookie-authenticated write (or a sign-in) is accepted (csrf.go);
	// "*" is ignored here.
	Origins []string
	// DrainBatch and DrainPause pace closing connections on Close (128,
	// 50ms), so their reconnects do not arrive all at once.
	DrainBatch int
	DrainPause time.Duration
	// SecureCookie marks the login cookie Secure always; by default it is
	// Secure when the request came over TLS (directly or, per
	// X-Forwarded-Proto, through a proxy).
	SecureCookie bool
	// Limits are the abuse limits (per address, user, account, connection).
	Limits Limits
	// ClientIP resolves the client's address for limits (Caddy's
	// client_ip, which honours trusted_proxies); nil: the peer address.
	ClientIP func(*http.Request) string
}

func (c *APIConfig) setDefaults() {
	if c.MaxBody <= 0 {
		c.MaxBody = 4096
	}
	if c.MaxRequest <= 0 {
		c.MaxRequest = 64 << 10
	}
	if c.MaxFile <= 0 {
		c.MaxFile = 10 << 20
	}
	if c.EditWindow == 0 {
		c.EditWindow = time.Hour
	}
	if c.MaxReactions <= 0 {
		c.MaxReactions = 20
	}
	if c.SendRate <= 0 {
		c.SendRate = 20
	}
	if c.SendBurst <= 0 {
		c.SendBurst = 40
	}
	if c.UserSendRate == 0 {
		c.UserSendRate = 50
	}
	if c.DrainBatch <= 0 {
		c.DrainBatch = 128
	}
	if c.DrainPause <= 0 {
		c.DrainPause = 50 * time.Millisecond
	}
	c.Limits.setDefaults()
	c.Socket.SetDefaults()
}

// API serves the REST routes, /ws and the health checks of one site.
type API struct {
	core     *Core
	cfg      APIConfig
	log      *zap.Logger
	mux      *http.ServeMux
	notFound http.Handler
	origins  map[string]bool
	upgrader websocket.Upgrader
	conns    *socket.Registry

	ctx      context.Context
	cancel   context.CancelFunc
	draining chan struct{}
	drainOne sync.Once
	startOne sync.Once

	// wg counts connection goroutines; once closed is set (under mu) no
	// more are added, so Close's Wait never races an Add.
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// NewAPI builds the site handler; it starts nothing (Start, or the first
// request, does) and Close drains its connections.
func NewAPI(core *Core, cfg APIConfig) *API {
	cfg.setDefaults()
	a := &API{core: core, cfg: cfg, log: core.log, mux: http.NewServeMux(), conns: socket.NewRegistry(),
		origins: originSet(cfg.Origins), draining: make(chan struct{})}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	a.upgrader = websocket.Upgrader{
		// Client frames are small (a send is ~150 bytes); bigger ones are
		// read through in pieces. Each byte here is paid per connection.
		ReadBufferSize:    512,
		WriteBufferSize:   4096,
		WriteBufferPool:   &sync.Pool{},
		EnableCompression: cfg.Compression,
		CheckOrigin:       cfg.CheckOrigin,
		HandshakeTimeout:  cfg.Limits.HandshakeTimeout,
		// A refused handshake (a foreign Origin, a bad upgrade request)
		// answers in the API's JSON error shape, not gorilla's plain text.
		Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
			code := wire.CodeBadRequest
			if status == http.StatusForbidden {
				code = wire.CodeForbidden
			}
			var body wire.ErrorBody
			body.Error.Code, body.Error.Message = code, reason.Error()
			writeJSON(w, status, body)
		},
	}
	a.routes()
	return a
}

// Start starts the site's background work: the heartbeat that pings every
// WebSocket and cuts those whose pong is late. ServeHTTP calls it on the
// first request (no connection exists before one), so a site that is
// provisioned but never serves, as under `caddy validate`, starts nothing;
// calling it earlier, or again, is fine.
func (a *API) Start() {
	a.startOne.Do(func() { go a.conns.Heartbeat(a.ctx, a.cfg.Socket.PingInterval) })
}

// Handles reports whether the request is for this API (else the host's next
// handler serves it, e.g. static files). It sees the path the way Caddy's
// path matcher does (case-insensitive, cleaned: slashes merged, dot
// segments resolved), so every request a `path /api/* ...` matcher sends
// here is ours: /API/rooms or //api/rooms must not fall through to an empty
// 200, and ServeHTTP answers them with a JSON 404.
func (a *API) Handles(r *http.Request) bool {
	p := path.Clean("/" + strings.ToLower(r.URL.Path))
	return p == "/ws" || p == "/healthz" || p == "/readyz" || p == "/api" || strings.HasPrefix(p, "/api/")
}

// ServeHTTP serves an API request. Routes are exact: a path that is not
// clean (//api/rooms, /api//rooms, /x/../api/rooms, a trailing slash) is a
// JSON 404 here rather than the mux's redirect, and any other case
// (/API/rooms) is a JSON 404 from the mux's catch-all.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.Start()
	if p := r.URL.Path; p != path.Clean(p) {
		a.notFound.ServeHTTP(w, r)
		return
	}
	a.mux.ServeHTTP(w, r)
}

// Connections is the number of open WebSocket connections of this site.
func (a *API) Connections() int { return a.conns.Len() }

// Drain marks the site as draining: /readyz answers 503 so load balancers
// stop sending new clients.
func (a *API) Drain() { a.drainOne.Do(func() { close(a.draining) }) }

func (a *API) isDraining() bool {
	select {
	case <-a.draining:
		return true
	default:
		return false
	}
}

// track counts a new connection goroutine, unless Close has begun.
func (a *API) track() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return false
	}
	a.wg.Add(1)
	return true
}

// Close drains the site: readiness fails, every WebSocket gets close code
// 1001 (reconnect and resume elsewhere) in paced batches, then the
// connection goroutines are waited for.
func (a *API) Close(ctx context.Context) {
	a.Drain()
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
	a.conns.CloseAll(ctx, websocket.CloseGoingAway, "server going away: reconnect and resume", a.cfg.DrainBatch, a.cfg.DrainPause)
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	a.cancel()
}

func zapReq(r *http.Request) zap.Field { return zap.String("path", r.Method+" "+r.URL.Path) }
func zapErr(err error) zap.Field       { return zap.Error(err) }
