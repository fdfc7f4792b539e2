package caddymodule

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/chatgate/chatgate/chatcore/gateway"
	"github.com/chatgate/chatgate/chatcore/limits"
	"github.com/chatgate/chatgate/chatcore/socket"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler is the `chat` HTTP handler: /api/*, /ws, /healthz and /readyz of
// one site; other requests go to the next handler (static files).
type Handler struct {
	// MaxFrame is the largest client WebSocket frame handled (16KiB);
	// bigger ones get a too_large error and the connection stays open.
	MaxFrame int64 `json:"max_frame,omitempty"`
	// MaxBody is the largest message body in bytes (4096).
	MaxBody int `json:"max_body,omitempty"`
	// MaxRequest caps REST request bodies (64KiB).
	MaxRequest int64 `json:"max_request,omitempty"`
	// MaxFile caps one file upload, enforced while streaming (10MiB).
	MaxFile int64 `json:"max_file,omitempty"`
	// EditWindow is how long after sending a message its author may edit
	// it (default 1h; -1, `off` in a Caddyfile: no limit).
	EditWindow caddy.Duration `json:"edit_window,omitempty"`
	// MaxReactions bounds the distinct emoji on one message (default 20).
	MaxReactions int `json:"max_reactions,omitempty"`
	// QueueFrames is how many events may wait in one connection's outbound
	// queue (default 1024); one more closes the connection with 4408, and
	// the client resumes with since.
	QueueFrames int `json:"queue_frames,omitempty"`
	// QueueBytes is how many bytes of events may wait in one connection's
	// outbound queue (default 1MiB); past it the connection is closed with
	// 4408.
	QueueBytes int `json:"queue_bytes,omitempty"`
	// SendBuffer is each connection's kernel send buffer in bytes (SO_SNDBUF,
	// default 256KiB); -1 (`off` in a Caddyfile) leaves it to the kernel's
	// autotuning, up to several MiB per stalled client.
	SendBuffer int `json:"send_buffer,omitempty"`
	// PingInterval is how often the server pings each WebSocket (default
	// 25s).
	PingInterval caddy.Duration `json:"ping_interval,omitempty"`
	// PongTimeout is how long past a ping interval a client that sent
	// nothing, not even a pong, is kept before it is dropped (default 10s).
	PongTimeout caddy.Duration `json:"pong_timeout,omitempty"`
	// WriteTimeout bounds one socket write (10s).
	WriteTimeout caddy.Duration `json:"write_timeout,omitempty"`
	// Compression enables permessage-deflate for clients that offer it.
	Compression bool `json:"compression,omitempty"`
	// CompressMin is the smallest event sent compressed (512 bytes).
	CompressMin int `json:"compress_min,omitempty"`
	// SendRate limits the messages one connection sends, per second
	// (default 20).
	SendRate float64 `json:"send_rate,omitempty"`
	// SendBurst is how many messages a connection may send at once above
	// SendRate (default 40).
	SendBurst int `json:"send_burst,omitempty"`
	// UserSendRate limits one user's messages per second (burst 2×) across
	// their connections and REST and, with Redis, all instances (default
	// 50; -1, `off` in a Caddyfile, turns it off).
	UserSendRate int `json:"user_send_rate,omitempty"`
	// Origins allows cross-origin WebSocket upgrades from these origins
	// ("*" for any); by default only same-origin ones. Listed origins (not
	// "*") may also make cookie-authenticated REST writes and sign in.
	Origins []string `json:"origins,omitempty"`
	// StreamCloseDelay keeps connections open this long after a reload
	// before closing them with 1001, like reverse_proxy's option (0).
	StreamCloseDelay caddy.Duration `json:"stream_close_delay,omitempty"`
	// DrainBatch is how many connections a drain (shutdown, or a reload
	// that drops the site) closes with 1001 at a time (default 128), so
	// reconnects do not all arrive elsewhere at once.
	DrainBatch int `json:"drain_batch,omitempty"`
	// DrainPause is the pause between two drain batches (default 50ms).
	DrainPause caddy.Duration `json:"drain_pause,omitempty"`
	// DrainTimeout bounds the drain; connections still open then are cut
	// (default 10s).
	DrainTimeout caddy.Duration `json:"drain_timeout,omitempty"`

	// Abuse limits, counted across instances through Redis when the chat
	// app has one. Client addresses are Caddy's client_ip: set the
	// server's trusted_proxies behind a load balancer. A rate's per_second
	// of -1 (`off` in a Caddyfile) turns it off.

	// IPConns caps concurrent WebSockets per client address, IPv6 per /64,
	// across instances; past it the upgrade gets 429 (default 1000; -1,
	// `off` in a Caddyfile, turns it off).
	IPConns int `json:"ip_conns,omitempty"`
	// IPConnectRate limits handshakes per address (50/s, burst 500).
	IPConnectRate limits.Rate `json:"ip_connect_rate,omitempty"`
	// IPRequestRate limits REST requests per client address (default
	// 300/s, burst 3000).
	IPRequestRate limits.Rate `json:"ip_request_rate,omitempty"`
	// UserRequestRate limits REST requests per authenticated user (default
	// 100/s, burst 1000).
	UserRequestRate limits.Rate `json:"user_request_rate,omitempty"`
	// AuthIPRate limits register and login attempts per address (2/s,
	// burst 20).
	AuthIPRate limits.Rate `json:"auth_ip_rate,omitempty"`
	// LoginAccountIPRate limits failed logins per account from one
	// address (5/m, burst 10).
	LoginAccountIPRate limits.Rate `json:"login_account_ip_rate,omitempty"`
	// LoginAccountRate limits failed logins per account from all
	// addresses together (30/m, burst 60), high enough that one attacker
	// cannot lock the owner out.
	LoginAccountRate limits.Rate `json:"login_account_rate,omitempty"`
	// MaxRooms caps the rooms one connection subscribes to at once
	// (default 128; -1, `off` in a Caddyfile, turns it off).
	MaxRooms int `json:"max_rooms,omitempty"`
	// CommandRate limits a connection's non-send frames (100/s, burst 200).
	CommandRate limits.Rate `json:"command_rate,omitempty"`
	// UploadRate limits file uploads per user (1/s, burst 20).
	UploadRate limits.Rate `json:"upload_rate,omitempty"`
	// SearchRate limits GET /api/search per signed-in user (5/s, burst 20).
	SearchRate limits.Rate `json:"search_rate,omitempty"`
	// HandshakeTimeout bounds the WebSocket upgrade (10s).
	HandshakeTimeout caddy.Duration `json:"handshake_timeout,omitempty"`
	// SecureCookie always marks the login cookie Secure; by default it is
	// Secure when the request came over TLS or X-Forwarded-Proto https.
	SecureCookie bool `json:"secure_cookie,omitempty"`

	api *gateway.API
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.chat", New: func() caddy.Module { return new(Handler) }}
}

// Provision builds the site's API on the chat app's core. It starts
// nothing: Caddy gives an HTTP handler no Start, and Provision also runs
// under `caddy validate`, so the API starts its one goroutine (the
// WebSocket heartbeat) on its first request, before which there is no
// connection to ping (gateway.API.Start).
func (h *Handler) Provision(ctx caddy.Context) error {
	appIface, err := ctx.App("chat")
	if err != nil {
		return fmt.Errorf("chat handler: load chat app: %w", err)
	}
	app := appIface.(*App)
	cfg := gateway.APIConfig{
		Socket: socket.Config{
			MaxFrame:     h.MaxFrame,
			QueueFrames:  h.QueueFrames,
			QueueBytes:   h.QueueBytes,
			SendBuffer:   h.SendBuffer,
			CompressMin:  h.CompressMin,
			WriteTimeout: time.Duration(h.WriteTimeout),
			PingInterval: time.Duration(h.PingInterval),
			PongTimeout:  time.Duration(h.PongTimeout),
		},
		MaxBody:      h.MaxBody,
		MaxRequest:   h.MaxRequest,
		MaxFile:      h.MaxFile,
		EditWindow:   time.Duration(h.EditWindow),
		MaxReactions: h.MaxReactions,
		SendRate:     h.SendRate,
		SendBurst:    h.SendBurst,
		UserSendRate: h.UserSendRate,
		Compression:  h.Compression,
		DrainBatch:   h.DrainBatch,
		DrainPause:   time.Duration(h.DrainPause),
		CheckOrigin:  h.checkOrigin(),
		Origins:      h.Origins,
		SecureCookie: h.SecureCookie,
		Limits: gateway.Limits{
			IPConns:            h.IPConns,
			IPConnectRate:      h.IPConnectRate,
			IPRequestRate:      h.IPRequestRate,
			UserRequestRate:    h.UserRequestRate,
			AuthIPRate:         h.AuthIPRate,
			LoginAccountRate:   h.LoginAccountRate,
			LoginAccountIPRate: h.LoginAccountIPRate,
			MaxRooms:           h.MaxRooms,
			CommandRate:        h.CommandRate,
			UploadRate:         h.UploadRate,
			SearchRate:         h.SearchRate,
			HandshakeTimeout:   time.Duration(h.HandshakeTimeout),
		},
		ClientIP: func(r *http.Request) string {
			ip, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
			return ip
		},
	}
	h.api = gateway.NewAPI(app.Core(), cfg)
	return nil
}

// checkOrigin returns nil (gorilla's same-origin check) unless Origins is set.
func (h *Handler) checkOrigin() func(*http.Request) bool {
	if len(h.Origins) == 0 {
		return nil
	}
	allowed := make(map[string]bool, len(h.Origins))
	for _, o := range h.Origins {
		allowed[strings.ToLower(strings.TrimRight(o, "/"))] = true
	}
	return func(r *http.Request) bool {
		origin := r.Header.Get("Origin")
		if origin == "" || allowed["*"] {
			return true
		}
		u, err := url.Parse(origin)
		if err != nil {
			return false
		}
		return strings.EqualFold(u.Host, r.Host) || allowed[strings.ToLower(origin)]
	}
}

// Validate checks the configuration.
func (h *Handler) Validate() error {
	if h.MaxReactions < 0 || h.EditWindow < -1 {
		return fmt.Errorf("chat handler: max_reactions and edit_window must not be negative (edit_window off: no limit)")
	}
	if h.MaxFrame < 0 || h.MaxBody < 0 || h.QueueFrames < 0 || h.QueueBytes < 0 || h.SendRate < 0 || h.SendBurst < 0 {
		return fmt.Errorf("chat handler: limits must not be negative")
	}
	if h.MaxFrame > 0 && h.MaxBody > 0 && int64(h.MaxBody) > h.MaxFrame {
		return fmt.Errorf("chat handler: max_body (%d) must fit in max_frame (%d)", h.MaxBody, h.MaxFrame)
	}
	return nil
}

// ServeHTTP serves chat requests and passes everything else on. A
// WebSocket request returns once upgraded: the connection lives on in a
// goroutine of its own, so Caddy's request metrics do not count open
// WebSockets (chatgate_ws_connections does; README, design choices).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if !h.api.Handles(r) {
		return next.ServeHTTP(w, r)
	}
	if caddy.Exiting() {
		// Shutting down (within shutdown_delay): fail readiness and refuse
		// new WebSockets first, so load balancers move clients elsewhere
		// before Cleanup closes the open ones with 1001.
		h.api.Drain()
	}
	h.api.ServeHTTP(w, r)
	return nil
}

// Cleanup closes this site's WebSockets with 1001 (after
// stream_close_delay), since http.Server.Shutdown neither closes nor waits
// for hijacked connections. Clients reconnect and resume with since.
func (h *Handler) Cleanup() error {
	if h.api == nil {
		return nil
	}
	h.api.Drain()
	timeout := time.Duration(h.DrainTimeout)
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	closeAll := func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		h.api.Close(ctx)
	}
	if d := time.Duration(h.StreamCloseDelay); d > 0 && !caddy.Exiting() {
		time.AfterFunc(d, closeAll)
		return nil
	}
	closeAll()
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
