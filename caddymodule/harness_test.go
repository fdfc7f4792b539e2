package caddymodule_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	"github.com/gorilla/websocket"

	_ "github.com/chatgate/chatgate/caddymodule"
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
		"user_request_rate off", "auth_ip_rate off", "login_account_rate off", "login_account_ip_rate off"} {
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

type client struct {
	s     *server
	token string
	id    int64
	name  string
}

// reply is a decoded REST answer.
type reply struct {
	status int
	header http.Header
	body   []byte
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

func (s *server) raw(t testing.TB, method, path, token string, body io.Reader) reply {
	t.Helper()
	r, err := s.try(method, path, token, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

func (s *server) try(method, path, token string, body io.Reader) (reply, error) {
	req, err := http.NewRequest(method, s.base+path, body)
	if err != nil {
		return reply{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// tryCall is call without failing the test, for goroutines and retries.
func tryCall(c *client, method, path string, body any) (reply, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return reply{}, err
	}
	return c.s.try(method, path, c.token, bytes.NewReader(b))
}

func (s *server) call(t testing.TB, method, path, token string, body any) reply {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	return s.raw(t, method, path, token, r)
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
	r := s.call(t, "POST", "/api/auth/register", "", map[string]string{"name": name, "email": email, "password": "password-" + name})
	if r.status != http.StatusCreated {
		t.Fatalf("register %s: %d %s", name, r.status, r.body)
	}
	var out struct {
		User  struct{ ID int64 }
		Token string
	}
	r.decode(t, &out)
	return &client{s: s, token: out.Token, id: out.User.ID, name: name}
}

func (c *client) call(t testing.TB, method, path string, body any) reply {
	t.Helper()
	return c.s.call(t, method, path, c.token, body)
}

func (c *client) createRoom(t testing.TB, name string, private bool) int64 {
	t.Helper()
	r := c.call(t, "POST", "/api/rooms", map[string]any{"name": name, "is_private": private})
	if r.status != http.StatusCreated {
		t.Fatalf("create room: %d %s", r.status, r.body)
	}
	var room struct{ ID int64 }
	r.decode(t, &room)
	return room.ID
}

func (c *client) join(t testing.TB, room int64) {
	t.Helper()
	if r := c.call(t, "POST", fmt.Sprintf("/api/rooms/%d/join", room), nil); r.status != 200 {
		t.Fatalf("join: %d %s", r.status, r.body)
	}
}

// event is any server event.
type event struct {
	Type      string          `json:"type"`
	Room      int64           `json:"room"`
	Seq       int64           `json:"seq"`
	LastSeq   int64           `json:"last_seq"`
	CID       string          `json:"cid"`
	Code      string          `json:"code"`
	Message   string          `json:"message"`
	Body      string          `json:"body"`
	TS        string          `json:"ts"`
	User      json.RawMessage `json:"user"`
	Duplicate bool            `json:"duplicate"`
}

type wsClient struct {
	t      testing.TB
	conn   *websocket.Conn
	events chan event
	frames atomic.Int64
	mu     sync.Mutex
	err    error
}

func (c *client) dial(t testing.TB) *wsClient {
	t.Helper()
	w, resp, err := c.dialWith(websocket.DefaultDialer, http.Header{"Authorization": {"Bearer " + c.token}}, "")
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	return w
}

func (c *client) dialWith(d *websocket.Dialer, h http.Header, query string) (*wsClient, *http.Response, error) {
	conn, resp, err := d.Dial(c.s.ws+query, h)
	if err != nil {
		return nil, resp, err
	}
	w := &wsClient{conn: conn, events: make(chan event, 1<<16)}
	go w.readLoop()
	return w, resp, nil
}

func (w *wsClient) readLoop() {
	defer close(w.events)
	for {
		_, data, err := w.conn.ReadMessage()
		if err != nil {
			w.mu.Lock()
			w.err = err
			w.mu.Unlock()
			return
		}
		w.frames.Add(1)
		var evs []event
		if len(data) > 0 && data[0] == '[' {
			if err := json.Unmarshal(data, &evs); err != nil {
				panic(fmt.Sprintf("bad batch frame %q: %v", data, err))
			}
		} else {
			var e event
			if err := json.Unmarshal(data, &e); err != nil {
				panic(fmt.Sprintf("bad frame %q: %v", data, err))
			}
			evs = []event{e}
		}
		for _, e := range evs {
			w.events <- e
		}
	}
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

func (w *wsClient) closeErr() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func closeCode(err error) int {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}

func (w *wsClient) close() { _ = w.conn.Close() }

// subscribe subscribes and returns the subscribed event's last_seq.
func (w *wsClient) subscribe(t testing.TB, room int64, since *int64) int64 {
	t.Helper()
	f := map[string]any{"type": "subscribe", "room": room}
	if since != nil {
		f["since"] = *since
	}
	w.send(t, f)
	e := w.next(t, "subscribed")
	if e.Room != room {
		t.Fatalf("subscribed to %d, want %d", e.Room, room)
	}
	return e.LastSeq
}

func ptr[T any](v T) *T { return &v }
