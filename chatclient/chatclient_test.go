package chatclient_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatgate/chatgate/internal/gatewaytest"

	"github.com/gorilla/websocket"

	"github.com/chatgate/chatgate/chatclient"
	"github.com/chatgate/chatgate/chatcore/auth"
	"github.com/chatgate/chatgate/chatcore/gateway"
	"github.com/chatgate/chatgate/chatcore/store"
)

// A real gateway in-process, as chatcore/gateway's own tests start one: its
// core on the test database, its API behind httptest.

func testDSN() string {
	if v := os.Getenv("CHATGATE_TEST_POSTGRES_CHATCLIENT"); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/chatgate_test_chatclient?sslmode=disable"
}

func startGateway(t testing.TB, cfg gateway.APIConfig) string {
	t.Helper()
	_, srv := gatewaytest.Start(t, gateway.Config{Store: store.Config{DSN: testDSN(), MaxConns: 4},
		Secret: []byte("chatclient-test-secret-0123456789"), Instance: "chatclient",
		Password: auth.PasswordParams{MemoryKiB: 1024, Time: 1, Threads: 1}}, cfg)
	return srv.URL
}

var userN atomic.Int64

func newUser(t testing.TB, base, name string, opts ...chatclient.Option) (*chatclient.Client, *chatclient.Auth) {
	t.Helper()
	c := chatclient.New(base, opts...)
	email := fmt.Sprintf("%s.%d.%d@chatclient.test", name, time.Now().UnixNano(), userN.Add(1))
	a, err := c.Register(context.Background(), name, email, "password-"+name)
	if err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	if c.Token() != a.Token || a.User.ID == 0 || a.User.Email != email {
		t.Fatalf("register: %+v, client token %q", a, c.Token())
	}
	return c, a
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestREST(t *testing.T) {
	base := startGateway(t, gateway.APIConfig{})
	ctx := ctxT(t)
	alice, a := newUser(t, base, "alice")
	bob, b := newUser(t, base, "bob")

	// Login gives a working token; a wrong password is a typed 401.
	again := chatclient.New(base)
	if _, err := again.Login(ctx, a.User.Email, "password-alice"); err != nil {
		t.Fatal(err)
	}
	if me, err := again.Me(ctx); err != nil || me.ID != a.User.ID || me.Email != a.User.Email {
		t.Fatalf("me: %+v %v", me, err)
	}
	_, err := chatclient.New(base).Login(ctx, a.User.Email, "wrong")
	var ce *chatclient.Error
	if !errors.As(err, &ce) || ce.Status != 401 || ce.Code != "unauthorized" || ce.Message == "" || ce.Method != "POST" {
		t.Fatalf("bad login: %#v", err)
	}
	if u, err := bob.User(ctx, a.User.ID); err != nil || u.Name != "alice" || u.Email != "" {
		t.Fatalf("user: %+v %v", u, err)
	}

	// A private room: only by invite; outsiders get 403, unknown rooms 404.
	priv, err := alice.CreateRoom(ctx, fmt.Sprintf("priv-%d", time.Now().UnixNano()), true)
	if err != nil || priv.ID == 0 || !priv.IsPrivate {
		t.Fatalf("create: %+v %v", priv, err)
	}
	if _, err := bob.Room(ctx, priv.ID); chatclient.StatusOf(err) != 403 || chatclient.CodeOf(err) != "forbidden" {
		t.Fatalf("outsider reads a private room: %v", err)
	}
	if _, err := bob.Room(ctx, 1<<40); chatclient.StatusOf(err) != 404 || chatclient.CodeOf(err) != "not_found" {
		t.Fatalf("unknown room: %v", err)
	}
	if err := alice.Invite(ctx, priv.ID, b.User.ID); err != nil {
		t.Fatal(err)
	}
	ms, err := bob.Members(ctx, priv.ID)
	if err != nil || len(ms) != 2 {
		t.Fatalf("members: %+v %v", ms, err)
	}
	roles := map[int64]string{}
	for _, m := range ms {
		roles[m.ID] = m.Role
	}
	if roles[a.User.ID] == "" || roles[b.User.ID] == "" || roles[a.User.ID] == roles[b.User.ID] {
		t.Fatalf("roles %v", roles)
	}

	// Messages: cid makes a post idempotent; pages both ways with limit.
	var seqs []int64
	for i := range 5 {
		m, dup, err := bob.Post(ctx, priv.ID, fmt.Sprintf("m%d", i), fmt.Sprintf("cid-%d-%d", time.Now().UnixNano(), i))
		if err != nil || dup || m.Seq != int64(i+1) || m.User.ID != b.User.ID || m.User.Name != "bob" || m.TS.IsZero() {
			t.Fatalf("post %d: %+v %v %v", i, m, dup, err)
		}
		seqs = append(seqs, m.Seq)
	}
	m, dup, err := bob.Post(ctx, priv.ID, "again", "")
	if err != nil || dup || m.CID == "" {
		t.Fatalf("post with a generated cid: %+v %v", m, err)
	}
	m2, dup, err := bob.Post(ctx, priv.ID, "again", m.CID)
	if err != nil || !dup || m2.Seq != m.Seq {
		t.Fatalf("resent cid: %+v dup=%v %v, first seq %d", m2, dup, err, m.Seq)
	}
	if _, _, err := bob.Post(ctx, priv.ID, "other body", m.CID); chatclient.StatusOf(err) != 409 {
		t.Fatalf("same cid, other body: %v", err)
	}
	p, err := alice.MessagesBefore(ctx, priv.ID, 0, 2)
	if err != nil || len(p.Messages) != 2 || !p.HasMore || p.Messages[0].Seq != 6 || p.Messages[1].Seq != 5 {
		t.Fatalf("newest page: %+v %v", p, err)
	}
	p, err = alice.MessagesBefore(ctx, priv.ID, 3, 0)
	if err != nil || len(p.Messages) != 2 || p.HasMore || p.Messages[0].Seq != 2 {
		t.Fatalf("before 3: %+v %v", p, err)
	}
	p, err = alice.MessagesAfter(ctx, priv.ID, 4, 10)
	if err != nil || len(p.Messages) != 2 || p.Messages[0].Seq != 5 || p.Messages[0].Body != "m4" || p.HasMore {
		t.Fatalf("after 4: %+v %v", p, err)
	}

	// Read marks show in the room list.
	if err := bob.MarkRead(ctx, priv.ID, 4); err != nil {
		t.Fatal(err)
	}
	rooms, err := bob.Rooms(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(rooms, func(r chatclient.Room) bool { return r.ID == priv.ID })
	if i < 0 || !rooms[i].Joined || rooms[i].LastReadSeq != 4 || rooms[i].LastSeq != 6 {
		t.Fatalf("room list: %+v", rooms)
	}
	if r, err := bob.Room(ctx, priv.ID); err != nil || r.MessageCount != 6 || r.MemberCount != 2 {
		t.Fatalf("room: %+v %v", r, err)
	}
	if on, err := bob.Presence(ctx, priv.ID); err != nil || len(on) != 0 {
		t.Fatalf("presence: %v %v", on, err)
	}

	// Removing and leaving.
	if err := alice.RemoveMember(ctx, priv.ID, b.User.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Members(ctx, priv.ID); chatclient.StatusOf(err) != 403 {
		t.Fatalf("removed member reads members: %v", err)
	}
	pub, err := alice.CreateRoom(ctx, fmt.Sprintf("pub-%d", time.Now().UnixNano()), false)
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.Join(ctx, pub.ID); err != nil {
		t.Fatal(err)
	}
	if err := bob.Leave(ctx, pub.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := bob.Post(ctx, pub.ID, "x", ""); chatclient.StatusOf(err) != 403 {
		t.Fatalf("post after leaving: %v", err)
	}

	// Do: the raw call, any status kept.
	r, err := bob.Do(ctx, "POST", "/api/rooms", []byte(`{"name":`), nil)
	if chatclient.CodeOf(err) != "bad_request" || r == nil || r.StatusCode != 400 {
		t.Fatalf("malformed body: %v %+v", err, r)
	}
	r, err = bob.Do(ctx, "GET", base+"/healthz", nil, nil)
	if err != nil || r.StatusCode != 200 {
		t.Fatalf("healthz by full URL: %v %+v", err, r)
	}
}

// TestRetryAfter: Retry-After and a body without the envelope.
func TestRetryAfter(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/me" {
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(429)
			w.Write([]byte(`{"error":{"code":"rate_limited","message":"slow down"}}`))
			return
		}
		w.WriteHeader(502)
		w.Write([]byte("bad gateway\n"))
	}))
	defer srv.Close()
	c := chatclient.New(srv.URL)
	_, err := c.Me(context.Background())
	var e *chatclient.Error
	if !errors.As(err, &e) || e.Status != 429 || e.Code != "rate_limited" || e.RetryAfter != 3*time.Second {
		t.Fatalf("%#v", err)
	}
	if !strings.Contains(err.Error(), "HTTP 429 rate_limited: slow down") {
		t.Fatalf("message %q", err)
	}
	_, err = c.Rooms(context.Background())
	if !errors.As(err, &e) || e.Status != 502 || e.Code != "" || e.Message != "bad gateway" {
		t.Fatalf("%#v", err)
	}
}

func TestWebSocket(t *testing.T) {
	base := startGateway(t, gateway.APIConfig{})
	ctx := ctxT(t)
	alice, _ := newUser(t, base, "alice")
	bob, b := newUser(t, base, "bob")
	room, err := alice.CreateRoom(ctx, fmt.Sprintf("ws-%d", time.Now().UnixNano()), false)
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.Join(ctx, room.ID); err != nil {
		t.Fatal(err)
	}

	ac, err := alice.Dial(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ac.Close()
	blog := chatclient.NewLog()
	bc, err := bob.Dial(ctx, &chatclient.DialOptions{Log: blog, TokenInQuery: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bc.Close()

	sub, err := ac.Subscribe(ctx, room.ID, nil)
	if err != nil || sub.Room != room.ID || sub.LastSeq != 0 {
		t.Fatalf("subscribe: %+v %v", sub, err)
	}
	if _, err := bc.Subscribe(ctx, room.ID, nil); err != nil {
		t.Fatal(err)
	}
	ack, err := ac.Send(ctx, room.ID, "hello", "c-1")
	if err != nil || ack.Seq != 1 || ack.CID != "c-1" || ack.Duplicate {
		t.Fatalf("send: %+v %v", ack, err)
	}
	ack, err = ac.Send(ctx, room.ID, "hello", "c-1")
	if err != nil || ack.Seq != 1 || !ack.Duplicate {
		t.Fatalf("resend: %+v %v", ack, err)
	}
	// Bob's log holds the message once, with its sender.
	e, err := blog.Wait(ctx, func(e chatclient.Event) bool { return e.Type == "message" && e.Seq == 1 })
	if err != nil || e.Body != "hello" || e.CID != "c-1" || e.User.Name != "alice" || e.User.ID == 0 || e.TS == "" || e.At.IsZero() {
		t.Fatalf("message: %+v %v", e, err)
	}
	// Alice's own queue: subscribed, acks, her own message (the resent
	// one is not delivered again).
	var types []string
	for len(types) < 4 {
		e, err := ac.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if e.Type != "presence" {
			types = append(types, e.Type)
		}
	}
	if want := []string{"subscribed", "ack", "message", "ack"}; !slices.Equal(types, want) && !slices.Equal(types, []string{"subscribed", "message", "ack", "ack"}) {
		t.Fatalf("alice's events %v, want %v", types, want)
	}

	// Typing and presence reach the other subscriber with the user's id.
	if err := ac.Typing(room.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := blog.Wait(ctx, func(e chatclient.Event) bool { return e.Type == "typing" && e.User.Name == "" && e.User.ID != 0 }); err != nil {
		t.Fatal(err)
	}
	if err := ac.Ping(ctx); err != nil {
		t.Fatal(err)
	}

	// Refusals are typed: a room bob may not enter, an empty body.
	priv, err := alice.CreateRoom(ctx, fmt.Sprintf("priv-%d", time.Now().UnixNano()), true)
	if err != nil {
		t.Fatal(err)
	}
	_, err = bc.Subscribe(ctx, priv.ID, nil)
	var ce *chatclient.Error
	if !errors.As(err, &ce) || ce.Code != "forbidden" || ce.Status != 0 || ce.Room != priv.ID {
		t.Fatalf("subscribe to a private room: %#v", err)
	}
	if _, err := bc.Send(ctx, room.ID, "  ", ""); chatclient.CodeOf(err) != "bad_request" {
		t.Fatalf("empty body: %v", err)
	}
	if _, err := bc.Send(ctx, priv.ID, "x", ""); chatclient.CodeOf(err) != "forbidden" {
		t.Fatalf("send to a private room: %v", err)
	}

	// Resume: more messages while bob is away, then since replays them.
	if err := bc.Unsubscribe(ctx, room.ID); err != nil {
		t.Fatal(err)
	}
	for i := 2; i <= 4; i++ {
		if _, err := ac.Send(ctx, room.ID, fmt.Sprint("m", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	blog.DeleteFunc(func(chatclient.Event) bool { return true })
	if sub, err := bc.Subscribe(ctx, room.ID, chatclient.Since(1)); err != nil || sub.LastSeq != 4 {
		t.Fatalf("subscribe since 1: %+v %v", sub, err)
	}
	if _, err := blog.Wait(ctx, func(e chatclient.Event) bool { return e.Type == "message" && e.Seq == 4 }); err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, e := range blog.Events() {
		if e.Type == "message" {
			got = append(got, e.Seq)
		}
	}
	if !slices.Equal(got, []int64{2, 3, 4}) {
		t.Fatalf("replay since 1: %v", got)
	}
	if bc.Frames() == 0 || time.Since(bc.LastRead()) > 5*time.Second {
		t.Fatalf("frames %d, last read %v", bc.Frames(), bc.LastRead())
	}

	// A polite close: the log ends with ErrClosed or the server's 1000.
	bc.Close()
	if _, err := blog.Wait(ctx, func(e chatclient.Event) bool { return false }); err == nil {
		t.Fatal("wait on a closed connection")
	}
	if err := bc.Err(); !errors.Is(err, chatclient.ErrClosed) && chatclient.CloseCode(err) != chatclient.CloseNormal {
		t.Fatalf("after Close: %v", err)
	}
	_ = b
}

// TestCloseCodes: a bad token upgrades and closes with 4401, surfaced as a
// *CloseError; an event stream ends with it.
func TestCloseCodes(t *testing.T) {
	base := startGateway(t, gateway.APIConfig{})
	ctx := ctxT(t)
	c, err := chatclient.New(base, chatclient.WithToken("not-a-token")).Dial(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Next(ctx); chatclient.CloseCode(err) != chatclient.CloseUnauthorized {
		t.Fatalf("bad token: %v", err)
	}
	var ce *chatclient.CloseError
	if !errors.As(c.Err(), &ce) || ce.Code != 4401 {
		t.Fatalf("Err %#v", c.Err())
	}
	// A session gives up on 4401 instead of reconnecting forever.
	s := chatclient.New(base, chatclient.WithToken("not-a-token")).NewSession(chatclient.SessionOptions{})
	if err := s.Run(ctx); chatclient.CloseCode(err) != 4401 {
		t.Fatalf("session with a bad token: %v", err)
	}
}

// TestOptions: an Origin header (refused by the same-origin check), a
// dialer bound to another local address, compression negotiated.
func TestOptions(t *testing.T) {
	base := startGateway(t, gateway.APIConfig{Compression: true})
	ctx := ctxT(t)
	_, a := newUser(t, base, "opt")

	evil := chatclient.New(base, chatclient.WithToken(a.Token), chatclient.WithHeader(http.Header{"Origin": {"http://evil.example"}}))
	if _, err := evil.Dial(ctx, nil); chatclient.StatusOf(err) != 403 {
		t.Fatalf("foreign origin: %v", err)
	}

	var seen atomic.Value
	local := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	d := &websocket.Dialer{HandshakeTimeout: 5 * time.Second, NetDialContext: func(ctx context.Context, n, addr string) (net.Conn, error) {
		c, err := local.DialContext(ctx, n, addr)
		if err == nil {
			seen.Store(c.LocalAddr().String())
		}
		return c, err
	}}
	hc := &http.Client{Transport: &http.Transport{DialContext: local.DialContext}}
	c := chatclient.New(base, chatclient.WithToken(a.Token), chatclient.WithDialer(d), chatclient.WithHTTPClient(hc), chatclient.WithCompression(true))
	if d.EnableCompression {
		t.Fatal("WithCompression changed the caller's dialer")
	}
	if _, err := c.Me(ctx); err != nil {
		t.Fatal(err)
	}
	conn, err := c.Dial(ctx, &chatclient.DialOptions{KeepAlive: 50 * time.Millisecond, ReadTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if s, _ := seen.Load().(string); !strings.HasPrefix(s, "127.0.0.2:") {
		t.Fatalf("dialled from %q", s)
	}
	if ext := conn.Response().Header.Get("Sec-Websocket-Extensions"); !strings.Contains(ext, "permessage-deflate") {
		t.Fatalf("extensions %q", ext)
	}
	// KeepAlive pings a quiet connection: pongs arrive.
	for n := 0; n < 2; {
		e, err := conn.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if e.Type == "pong" {
			n++
		}
	}
}

// TestSession: a bot's session survives a dropped connection: messages
// posted while it was away arrive once, in order; a send made while it is
// down is resent with its cid and acked once.
func TestSession(t *testing.T) {
	base := startGateway(t, gateway.APIConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	alice, _ := newUser(t, base, "alice")
	bot, _ := newUser(t, base, "bot")
	room, err := alice.CreateRoom(ctx, fmt.Sprintf("session-%d", time.Now().UnixNano()), false)
	if err != nil {
		t.Fatal(err)
	}
	if err := bot.Join(ctx, room.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := alice.Post(ctx, room.ID, "before", ""); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var seqs []int64
	got := make(chan struct{}, 100)
	connected := make(chan *chatclient.Conn, 10)
	s := bot.NewSession(chatclient.SessionOptions{
		Rooms: []int64{room.ID},
		OnEvent: func(e *chatclient.Event) {
			if e.Type == "message" {
				mu.Lock()
				seqs = append(seqs, e.Seq)
				mu.Unlock()
				got <- struct{}{}
			}
		},
		OnConnect:  func(c *chatclient.Conn) { connected <- c },
		MinBackoff: 20 * time.Millisecond,
	})
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(ctx) }()
	first := <-connected

	// Live subscribe: seq 1 is history, not owed.
	ack, err := s.Send(ctx, room.ID, "from the bot")
	if err != nil || ack.Seq != 2 {
		t.Fatalf("send: %+v %v", ack, err)
	}
	<-got
	if since, ok := s.Tracker().Since(room.ID); !ok || since != 2 {
		t.Fatalf("since %d %v", since, ok)
	}

	// Gone: the connection drops; the room moves on; a send is queued.
	first.Drop()
	<-first.Done()
	for i := range 3 {
		if _, _, err := alice.Post(ctx, room.ID, fmt.Sprint("away ", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	sent := make(chan *chatclient.Ack, 1)
	go func() {
		a, err := s.Send(ctx, room.ID, "queued while away")
		if err != nil {
			t.Error(err)
		}
		sent <- a
	}()
	second := <-connected
	if second == first {
		t.Fatal("same connection")
	}
	a := <-sent
	if a == nil || a.Seq != 6 {
		t.Fatalf("queued send: %+v", a)
	}
	for {
		mu.Lock()
		n := len(seqs)
		mu.Unlock()
		if n == 5 {
			break
		}
		select {
		case <-got:
		case <-ctx.Done():
			t.Fatalf("messages %v", seqs)
		}
	}
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(seqs, []int64{2, 3, 4, 5, 6}) {
		t.Fatalf("the bot saw %v, want 2..6 once each", seqs)
	}
	if s.Outbox().Len() != 0 {
		t.Fatalf("outbox %v", s.Outbox().Pending())
	}
	cancel()
	if err := <-runErr; err != nil {
		t.Fatalf("run: %v", err)
	}
}

func TestTrackerAndOutbox(t *testing.T) {
	var tr chatclient.Tracker
	if _, ok := tr.Since(7); ok {
		t.Fatal("untracked room tracked")
	}
	tr.Start(7, 10)
	tr.Start(7, 3) // tracked already: ignored
	for _, c := range []struct {
		seq   int64
		fresh bool
		since int64
		gap   bool
	}{{9, false, 10, false}, {11, true, 11, false}, {13, true, 11, true}, {13, false, 11, true}, {14, true, 11, true}, {12, true, 14, false}, {12, false, 14, false}} {
		if fresh := tr.Observe(7, c.seq); fresh != c.fresh {
			t.Fatalf("observe %d: %v", c.seq, fresh)
		}
		if s, _ := tr.Since(7); s != c.since || tr.Gap(7) != c.gap {
			t.Fatalf("after %d: since %d gap %v", c.seq, s, tr.Gap(7))
		}
	}
	if !tr.Observe(8, 1) {
		t.Fatal("untracked room starts at 0")
	}

	var o chatclient.Outbox
	a := o.Add(1, "a", "")
	b := o.Add(1, "b", "cid-b")
	if o.Add(1, "b", "cid-b") != b || o.Len() != 2 || a.CID == "" {
		t.Fatal("add")
	}
	c := o.Add(2, "c", "")
	if !o.Done(b.CID) || o.Done(b.CID) {
		t.Fatal("done")
	}
	if p := o.Pending(); len(p) != 2 || p[0] != a || p[1] != c {
		t.Fatalf("pending %+v", p)
	}
}

func TestDecodeFrame(t *testing.T) {
	evs, err := chatclient.DecodeFrame([]byte(` [{"type":"message","room":1,"seq":2,"user":{"id":3,"name":"ann"},"body":"hi","extra":[1]},` +
		`{"type":"presence","room":1,"user":3,"online":true},{"type":"ack","cid":"x","seq":2,"duplicate":true}]`))
	if err != nil || len(evs) != 3 {
		t.Fatal(evs, err)
	}
	if evs[0].User != (chatclient.UserRef{ID: 3, Name: "ann"}) || evs[1].User.ID != 3 || !evs[1].Online || !evs[2].Duplicate {
		t.Fatalf("%+v", evs)
	}
	if _, err := chatclient.DecodeFrame([]byte("  ")); err == nil {
		t.Fatal("empty frame")
	}
	if _, err := chatclient.DecodeFrame([]byte(`{"type":"typing","user":"x"}`)); err == nil {
		t.Fatal("bad user")
	}
	if e := (&chatclient.Event{Type: "error", Code: "forbidden", Room: 4}).Err(); chatclient.CodeOf(e) != "forbidden" {
		t.Fatal(e)
	}
}
