package chatclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Client talks to one Chatgate server as one user (or anonymously until
// Register or Login). It is safe for concurrent use; WithToken and
// WithBaseURL make cheap copies sharing the HTTP client and the dialer, so
// one process can act as many users.
type Client struct {
	base   string
	http   *http.Client
	dialer *websocket.Dialer
	header http.Header

	mu    sync.RWMutex
	token string
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client of REST calls (a transport bound to a
// local address, connection limits, timeouts). Default: a client with a 30 s
// timeout.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithDialer sets the WebSocket dialer (NetDialContext bound to a local
// address, buffer sizes, TLS). It is used as given, never modified; a later
// WithCompression applies to a copy.
func WithDialer(d *websocket.Dialer) Option { return func(c *Client) { c.dialer = d } }

// WithCompression offers permessage-deflate on the WebSocket (as browsers
// do) or not; the server compresses frames above its minimum size.
func WithCompression(on bool) Option {
	return func(c *Client) {
		d := *c.dialer
		d.EnableCompression = on
		c.dialer = &d
	}
}

// WithHeader adds header fields to every REST request and WebSocket
// handshake (Origin, X-Forwarded-For, User-Agent).
func WithHeader(h http.Header) Option {
	return func(c *Client) {
		for k, v := range h {
			c.header[k] = append(c.header[k], v...)
		}
	}
}

// WithToken starts the client signed in with a token from an earlier
// Register or Login.
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// DefaultDialer is the WebSocket dialer used when none is given.
var DefaultDialer = &websocket.Dialer{Proxy: http.ProxyFromEnvironment, HandshakeTimeout: 10 * time.Second}

// New returns a client for the server at baseURL (http://host:port or
// https://host, without /api).
func New(baseURL string, opts ...Option) *Client {
	c := &Client{
		base:   strings.TrimRight(baseURL, "/"),
		http:   &http.Client{Timeout: 30 * time.Second},
		dialer: DefaultDialer,
		header: http.Header{},
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// BaseURL is the server's base URL.
func (c *Client) BaseURL() string { return c.base }

// HTTPClient is the HTTP client of REST calls.
func (c *Client) HTTPClient() *http.Client { return c.http }

// Token is the bearer token sent with every call ("" when signed out).
func (c *Client) Token() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.token
}

// SetToken replaces the token (Register and Login set it themselves).
func (c *Client) SetToken(token string) {
	c.mu.Lock()
	c.token = token
	c.mu.Unlock()
}

func (c *Client) clone() *Client {
	return &Client{base: c.base, http: c.http, dialer: c.dialer, header: c.header, token: c.Token()}
}

// WithToken returns a copy of the client that acts with token.
func (c *Client) WithToken(token string) *Client {
	n := c.clone()
	n.token = token
	return n
}

// WithBaseURL returns a copy of the client that talks to another instance
// of the same deployment (failover), with the same token.
func (c *Client) WithBaseURL(baseURL string) *Client {
	n := c.clone()
	n.base = strings.TrimRight(baseURL, "/")
	return n
}

// WSURL is the server's WebSocket endpoint: ws(s)://host/ws.
func (c *Client) WSURL() string {
	switch {
	case strings.HasPrefix(c.base, "https://"):
		return "wss://" + strings.TrimPrefix(c.base, "https://") + "/ws"
	default:
		return "ws://" + strings.TrimPrefix(c.base, "http://") + "/ws"
	}
}

// Error is a refusal by the server: a REST answer other than 2xx, a refused
// WebSocket handshake, or a WebSocket error event. Status is the HTTP status
// (0 for error events); Code is the protocol's error code (bad_request,
// unauthorized, forbidden, not_found, conflict, too_large, rate_limited,
// too_many_rooms, unavailable, ...), empty when the body had none.
type Error struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration // from Retry-After (seconds), 0 when absent

	Method, URL string // the request (REST and handshakes)
	CID         string // error events about a send
	Room        int64  // error events about a room
	Err         error  // the transport's error, for refused handshakes
}

func (e *Error) Error() string {
	var sb strings.Builder
	if e.Method != "" {
		sb.WriteString(e.Method + " " + e.URL + ": ")
	}
	if e.Status != 0 {
		sb.WriteString("HTTP " + strconv.Itoa(e.Status))
		if e.Code != "" {
			sb.WriteString(" ")
		}
	}
	sb.WriteString(e.Code)
	if e.Message != "" {
		sb.WriteString(": " + e.Message)
	}
	if e.CID != "" {
		sb.WriteString(" (cid " + e.CID + ")")
	}
	return sb.String()
}

func (e *Error) Unwrap() error { return e.Err }

// StatusOf is the HTTP status of an *Error in err's chain, else 0.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// CodeOf is the protocol error code of an *Error in err's chain, else "".
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// Response is a REST answer, body read whole.
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

// maxBody bounds what is read of one answer.
const maxBody = 8 << 20

// Do sends one REST request: path is appended to the base URL (a full
// http(s) URL is used as it is); in, when not nil, is the body: []byte and
// io.Reader are sent as they are, anything else as JSON. A 2xx JSON answer
// is decoded into out when out is not nil. Any other status is an *Error
// (with the Response still returned); a failed exchange is a plain error
// (and a nil Response).
func (c *Client) Do(ctx context.Context, method, path string, in, out any) (*Response, error) {
	u := path
	if !strings.HasPrefix(path, "http://") && !strings.HasPrefix(path, "https://") {
		u = c.base + path
	}
	var body io.Reader
	ctype := "application/json"
	switch v := in.(type) {
	case nil:
	case fileBody:
		body, ctype = v.r, "application/octet-stream"
	case []byte:
		body = bytes.NewReader(v)
	case io.Reader:
		body = v
	default:
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("%s %s: encode: %w", method, u, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u, err)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	if in != nil {
		req.Header.Set("Content-Type", ctype)
	}
	if tok := c.Token(); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	r := &Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: data}
	if err != nil {
		return r, fmt.Errorf("%s %s: read body: %w", method, u, err)
	}
	if resp.StatusCode/100 != 2 {
		e := errorFrom(resp.StatusCode, resp.Header, data)
		e.Method, e.URL = method, u
		return r, e
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return r, fmt.Errorf("%s %s: decode: %w", method, u, err)
		}
	}
	return r, nil
}

// errorFrom reads the protocol's error envelope, {"error":{"code","message"}}.
func errorFrom(status int, h http.Header, body []byte) *Error {
	e := &Error{Status: status}
	var env struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &env) == nil && env.Error.Code != "" {
		e.Code, e.Message = env.Error.Code, env.Error.Message
	} else if s := strings.TrimSpace(string(body)); s != "" {
		if len(s) > 200 {
			s = s[:200]
		}
		e.Message = s
	}
	if h != nil {
		if s, err := strconv.Atoi(h.Get("Retry-After")); err == nil {
			e.RetryAfter = time.Duration(s) * time.Second
		}
	}
	return e
}
