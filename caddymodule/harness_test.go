package caddymodule_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	"github.com/gorilla/websocket"

	_ "github.com/chatgate/chatgate/caddymodule"
	"github.com/chatgate/chatgate/chatclient"
	"github.com/chatgate/chatgate/internal/freeport"
)

// The end-to-end tests run a real Caddy, in process, from a Caddyfile like
// the shipped one, against the real Postgres, and speak only PROTOCOL.md.

const testSecret = "e2e-test-secret-0123456789abcdef"

var testDSN = func() string {
	if v := os.Getenv("CHATGATE_TEST_POSTGRES"); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/chatgate_test_e2e?sslmode=disable"
}()

type server struct {
	base, ws string
	port     int
	admin    int
}

func freePort(t testing.TB) int { return freeport.Take(t) }

// caddyfile renders a site like the shipped Caddyfile: encode and a deferred
// header wrap the response writer, so upgrades must get through both.
func (s *server) caddyfile(chatOpts string) string {
	// Tests post hundreds of messages as one user and register hundreds
	// from one address: the limits are off unless a test sets them, and
	// each has its own test (limits_test.go, TestUserRateLimit).
	for _, opt := range []string{"user_send_rate -1", "ip_conns -1", "ip_connect_rate off", "ip_request_rate off",
		"user_request_rate off", "auth_ip_rate off", "login_account_rate off", "login_account_ip_rate off",
		"user_search_rate off"} {
		if name, _, _ := strings.Cut(opt, " "); !strings.Contains(chatOpts, name) {
			chatOpts += "\n" + opt
		}
	}
	return fmt.Sprintf(`{
	admin 127.0.0.1:%d
	metrics
	servers {
		# Like the shipped Caddyfile's 10s, shorter: slowloris handshakes
		# are cut off here (misbehave_test.go).
		timeouts {
			read_header 3s
		}
	}
	chat {
		postgres %s
		secret %s
		password_memory_kib 1024
		password_time 1
	}
}
http://:%d {
	encode zstd gzip
	header {
		X-Chat-Test yes
		defer
	}
	@chat path /api /api/* /ws /healthz /readyz
	handle @chat {
		chat {
			%s
		}
	}
	handle /metrics {
		metrics
	}
	handle {
		respond "static" 200
	}
}
`, s.admin, testDSN, testSecret, s.port, chatOpts)
}

func (s *server) load(t testing.TB, chatOpts string) {
	t.Helper()
	loadCaddyfile(t, s.caddyfile(chatOpts))
}

// loadCaddyfile adapts a Caddyfile and loads it into this process's Caddy.
func loadCaddyfile(t testing.TB, caddyfile string) {
	t.Helper()
	cfg, warns, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), map[string]any{"filename": "Caddyfile"})
	if err != nil {
		t.Fatalf("adapt: %v (%v)", err, warns)
	}
	if err := caddy.Load(cfg, false); err != nil {
		t.Fatalf("load: %v", err)
	}
}

// newServer picks the ports of a server that start will run.
func newServer(t testing.TB) *server {
	t.Helper()
	s := &server{port: freePort(t), admin: freePort(t)}
	s.base = fmt.Sprintf("http://127.0.0.1:%d", s.port)
	s.ws = fmt.Sprintf("ws://127.0.0.1:%d/ws", s.port)
	return s
}

// start runs caddyfile (on s's ports) until the test ends, once ready.
func (s *server) start(t testing.TB, caddyfile string) {
	t.Helper()
	loadCaddyfile(t, caddyfile)
	t.Cleanup(func() {
		if err := caddy.Stop(); err != nil {
			t.Errorf("stop caddy: %v", err)
		}
	})
	waitReady(t, s.base)
}

func startServer(t testing.TB, chatOpts string) *server {
	t.Helper()
	s := newServer(t)
	s.start(t, s.caddyfile(chatOpts))
	return s
}

// startServerEdited is startServer with the line old of the harness's
// Caddyfile replaced by new (another postgres, secret, app options).
func startServerEdited(t testing.TB, chatOpts, old, new string) *server {
	t.Helper()
	s := newServer(t)
	cfg := s.caddyfile(chatOpts)
	if !strings.Contains(cfg, old) {
		t.Fatalf("no %q in the harness's Caddyfile", old)
	}
	s.start(t, strings.Replace(cfg, old, new, 1))
	return s
}

// waitReady polls base/readyz until it answers 200 (30 s at most).
func waitReady(t testing.TB, base string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var userSeq atomic.Int64

// api is a protocol client of s acting with token ("" anonymous).
func (s *server) api(token string, opts ...chatclient.Option) *chatclient.Client {
	return chatclient.New(s.base, append(opts, chatclient.WithToken(token))...)
}

// client is one registered user of a server (tests move a user to
// another instance by setting s).
type client struct {
	s     *server
	token string
	id    int64
	name  string
}

// api is the user's protocol client, on its current server.
func (c *client) api() *chatclient.Client { return c.s.api(c.token) }

// reply is a REST answer, whatever its status.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// replyOf keeps any status: a refusal is an answer; only a failed exchange
// is an error.
func replyOf(r *chatclient.Response, err error) (reply, error) {
	if r == nil || err != nil && chatclient.StatusOf(err) == 0 {
		return reply{}, err
	}
	return reply{status: r.StatusCode, header: r.Header, body: r.Body}, nil
}

func (r reply) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
}

// errCode is the protocol error code of an error reply.
func (r reply) errCode(t testing.TB) string {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string }
	}
	r.decode(t, &e)
	if e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("not an error envelope: %s", r.body)
	}
	return e.Error.Code
}

// raw sends body as it is (nil: none).
func (s *server) raw(t testing.TB, method, path, token string, body io.Reader) reply {
	t.Helper()
	r, err := s.try(method, path, token, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

func (s *server) try(method, path, token string, body io.Reader) (reply, error) {
	return replyOf(s.api(token).Do(context.Background(), method, path, body, nil))
}

// tryCall is call without failing the test, for goroutines and retries.
func tryCall(c *client, method, path string, body any) (reply, error) {
	return replyOf(c.api().Do(context.Background(), method, path, body, nil))
}

// call sends body as JSON (nil: none).
func (s *server) call(t testing.TB, method, path, token string, body any) reply {
	t.Helper()
	r, err := replyOf(s.api(token).Do(context.Background(), method, path, body, nil))
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// metricValue is a sample's value in /metrics (0 when absent); name
// includes its labels as exposed, e.g. `x_total{code="4408"}`.
func (s *server) metricValue(t testing.TB, name string) float64 {
	t.Helper()
	for _, line := range strings.Split(string(s.call(t, "GET", "/metrics", "", nil).body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("metric %s: %q", name, v)
			}
			return f
		}
	}
	return 0
}

func (s *server) register(t testing.TB, name string) *client {
	t.Helper()
	n := userSeq.Add(1)
	email := fmt.Sprintf("%s.%d.%d@example.test", strings.ToLower(name), time.Now().UnixNano(), n)
	api := s.api("")
	var out chatclient.Auth
	r, err := api.Do(context.Background(), "POST", "/api/auth/register", map[string]string{"name": name, "email": email, "password": "password-" + name}, &out)
	if err != nil || r.StatusCode != http.StatusCreated {
		t.Fatalf("register %s: %v", name, err)
	}
	return &client{s: s, token: out.Token, id: out.User.ID, name: name}
}

func (c *client) call(t testing.TB, method, path string, body any) reply {
	t.Helper()
	r, err := replyOf(c.api().Do(context.Background(), method, path, body, nil))
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

func (c *client) createRoom(t testing.TB, name string, private bool) int64 {
	t.Helper()
	var room chatclient.Room
	r, err := c.api().Do(context.Background(), "POST", "/api/rooms", map[string]any{"name": name, "is_private": private}, &room)
	if err != nil || r.StatusCode != http.StatusCreated {
		t.Fatalf("create room: %v", err)
	}
	return room.ID
}

func (c *client) join(t testing.TB, room int64) {
	t.Helper()
	if r, err := c.api().Do(context.Background(), "POST", fmt.Sprintf("/api/rooms/%d/join", room), nil, nil); err != nil || r.StatusCode != 200 {
		t.Fatalf("join: %v", err)
	}
}

// event is any server event.
type event = chatclient.Event

// wsClient is a chatclient connection whose events are queued on a
// channel (closed when the connection ends) for next, closed and the
// tests that range over them.
type wsClient struct {
	conn   *chatclient.Conn
	events chan event
}

func (c *client) dial(t testing.TB) *wsClient {
	t.Helper()
	w, err := dialWS(c.api(), chatclient.DialOptions{})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return w
}

// dialWith dials without the user's token: with dialer d (nil: the
// default), the handshake's header h and query (e.g. "?token=...").
func (c *client) dialWith(d *websocket.Dialer, h http.Header, query string) (*wsClient, error) {
	opts := []chatclient.Option{chatclient.WithHeader(h)}
	if d != nil {
		opts = append(opts, chatclient.WithDialer(d))
	}
	return dialWS(c.s.api("", opts...), chatclient.DialOptions{RawQuery: strings.TrimPrefix(query, "?")})
}

func dialWS(api *chatclient.Client, o chatclient.DialOptions) (*wsClient, error) {
	w := &wsClient{events: make(chan event, 1<<16)}
	o.OnEvent = func(e *chatclient.Event) { w.events <- *e }
	o.OnBadFrame = func(data []byte, err error) { panic(fmt.Sprintf("bad frame %q: %v", data, err)) }
	conn, err := api.Dial(context.Background(), &o)
	if err != nil {
		return nil, err
	}
	w.conn = conn
	go func() {
		<-conn.Done() // after the last OnEvent
		close(w.events)
	}()
	return w, nil
}

func (w *wsClient) send(t testing.TB, v any) {
	t.Helper()
	if err := w.conn.WriteJSON(v); err != nil {
		t.Fatalf("ws write: %v", err)
	}
}

// next returns the next event of one of the types, skipping typing, pong
// and ack events unless asked for; any other event fails the test.
func (w *wsClient) next(t testing.TB, types ...string) event {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e, ok := <-w.events:
			if !ok {
				t.Fatalf("connection closed while waiting for %v: %v", types, w.closeErr())
			}
			if len(types) == 0 {
				return e
			}
			for _, typ := range types {
				if e.Type == typ {
					return e
				}
			}
			if e.Type == "typing" || e.Type == "pong" || e.Type == "ack" || e.Type == "presence" {
				continue
			}
			t.Fatalf("want %v, got %+v", types, e)
		case <-timeout:
			t.Fatalf("timeout waiting for %v", types)
		}
	}
}

// closed waits for the connection to end and returns its close error.
func (w *wsClient) closed(t testing.TB, within time.Duration) error {
	t.Helper()
	timeout := time.After(within)
	for {
		select {
		case _, ok := <-w.events:
			if !ok {
				return w.closeErr()
			}
		case <-timeout:
			t.Fatalf("connection still open after %v", within)
		}
	}
}

// closeErr is why the connection ended, nil while it is open.
func (w *wsClient) closeErr() error { return w.conn.Err() }

// closeCode is the close code of a chatclient connection's error or of a
// raw gorilla read's, else 0.
func closeCode(err error) int {
	if code := chatclient.CloseCode(err); code != 0 {
		return code
	}
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}

// close drops the connection without a close frame.
func (w *wsClient) close() { w.conn.Drop() }

// subscribe subscribes and returns the subscribed event's last_seq.
func (w *wsClient) subscribe(t testing.TB, room int64, since *int64) int64 {
	t.Helper()
	if err := w.conn.WriteFrame(chatclient.SubscribeFrame(room, since)); err != nil {
		t.Fatalf("ws write: %v", err)
	}
	e := w.next(t, "subscribed")
	if e.Room != room {
		t.Fatalf("subscribed to %d, want %d", e.Room, room)
	}
	return e.LastSeq
}

func ptr[T any](v T) *T { return &v }
