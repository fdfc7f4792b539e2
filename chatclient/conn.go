package chatclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Close codes the server uses: RFC 6455's, and 4000 + an HTTP-like status
// for policy.
const (
	CloseNormal       = 1000
	CloseGoingAway    = 1001 // the instance drains: reconnect (elsewhere) and resume
	CloseTooLarge     = 1009 // a frame over 1 MiB
	CloseUnauthorized = 4401 // missing, bad or expired token: log in again
	CloseTooSlow      = 4408 // the client did not keep up: resume with since
	CloseRateLimited  = 4429 // too many refused frames in a row
)

// CloseError is how a connection ended when the server sent a close frame.
type CloseError struct {
	Code int
	Text string
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("closed by server: %d %s", e.Code, e.Text)
}

// ErrClosed is a connection's error after Close or Drop.
var ErrClosed = errors.New("chatclient: connection closed by the client")

// CloseCode is the code of a *CloseError in err's chain, else 0 (the
// connection broke without a close frame, or err is not a connection's).
func CloseCode(err error) int {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}

// DialOptions configure one WebSocket connection; the zero value is fine.
type DialOptions struct {
	// OnEvent receives every event, in order, on the connection's read
	// goroutine (Event.At is the frame's arrival). It must not block long,
	// and must not call the methods that wait for a reply (Subscribe,
	// Unsubscribe, Send, Ping): the reply could not be read.
	OnEvent func(*Event)
	// Log, when set, records every event too; it ends with the connection.
	Log *Log
	// Without OnEvent and Log, events are queued for Next.

	// Lean leaves out what a load generator never reads, the user and ts
	// of every event (Event.User and TS stay zero), for a cheaper decode.
	Lean bool
	// OnBadFrame sees frames that are not events (default: dropped).
	OnBadFrame func(data []byte, err error)

	// ReadTimeout: a connection silent this long is dead (server pings
	// count as heard). 0: no limit.
	ReadTimeout time.Duration
	// WriteTimeout bounds each write (default 10 s). A failed write closes
	// the connection: the read side then ends with the error.
	WriteTimeout time.Duration
	// KeepAlive sends {"type":"ping"} whenever nothing was heard for this
	// long, to find a dead server on a quiet connection. 0: never.
	KeepAlive time.Duration

	// TokenInQuery sends the token as ?token= instead of an Authorization
	// header (what browsers without the cookie do).
	TokenInQuery bool
	// RawQuery is appended to the URL's query.
	RawQuery string
	// Header is added to the handshake (after the client's WithHeader).
	Header http.Header
}

// Conn is one WebSocket connection. Its methods are safe for concurrent use.
type Conn struct {
	ws   *websocket.Conn
	resp *http.Response
	opts DialOptions

	wmu sync.Mutex

	done    chan struct{}
	err     error
	closing atomic.Bool

	lastRead atomic.Int64
	frames   atomic.Int64
	keep     *time.Timer

	// Replies awaited by Subscribe, Unsubscribe, Send, Ping.
	nwait  atomic.Int32
	waitMu sync.Mutex
	acks   map[string]chan *Event
	subs   map[int64][]chan *Event
	unsubs map[int64][]chan *Event
	pongs  []chan *Event

	// Events for Next.
	qmu     sync.Mutex
	queue   []Event
	qnotify chan struct{}
}

// Dial opens the WebSocket with the client's token. A refused handshake is
// an *Error with the HTTP status (a server without the chat on /ws, a 429
// from a limit); a bad token upgrades and then closes with 4401.
func (c *Client) Dial(ctx context.Context, o *DialOptions) (*Conn, error) {
	var opts DialOptions
	if o != nil {
		opts = *o
	}
	if opts.WriteTimeout == 0 {
		opts.WriteTimeout = 10 * time.Second
	}
	shown := c.WSURL()
	u := shown
	h := http.Header{}
	for k, v := range c.header {
		h[k] = v
	}
	for k, v := range opts.Header {
		h[k] = v
	}
	var q []string
	if tok := c.Token(); tok != "" {
		if opts.TokenInQuery {
			q = append(q, "token="+url.QueryEscape(tok))
		} else {
			h.Set("Authorization", "Bearer "+tok)
		}
	}
	if opts.RawQuery != "" {
		q = append(q, opts.RawQuery)
	}
	if len(q) > 0 {
		u += "?" + strings.Join(q, "&")
	}
	ws, resp, err := c.dialer.DialContext(ctx, u, h)
	var body []byte
	if resp != nil && resp.Body != nil {
		if err != nil {
			body, _ = io.ReadAll(io.LimitReader(resp.Body, 4096))
		}
		resp.Body.Close()
	}
	if err != nil {
		if resp != nil {
			e := errorFrom(resp.StatusCode, resp.Header, body)
			e.Method, e.URL, e.Err = http.MethodGet, shown, err
			return nil, e
		}
		return nil, fmt.Errorf("websocket dial %s: %w", shown, err)
	}
	conn := &Conn{ws: ws, resp: resp, opts: opts, done: make(chan struct{})}
	if opts.OnEvent == nil && opts.Log == nil {
		conn.qnotify = make(chan struct{}, 1)
	}
	conn.lastRead.Store(time.Now().UnixNano())
	// Server pings prove it alive too.
	ws.SetPingHandler(func(data string) error {
		conn.lastRead.Store(time.Now().UnixNano())
		if opts.ReadTimeout > 0 {
			_ = ws.SetReadDeadline(time.Now().Add(opts.ReadTimeout))
		}
		// Like gorilla's default handler, a failed pong is not a read
		// error: a broken connection shows on the next read anyway.
		_ = ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		return nil
	})
	go conn.readLoop()
	if opts.KeepAlive > 0 {
		// Armed only once assigned: the callback reads conn.keep.
		conn.keep = time.AfterFunc(time.Duration(1<<62), conn.keepAlive)
		conn.keep.Reset(opts.KeepAlive)
	}
	return conn, nil
}

func (c *Conn) keepAlive() {
	select {
	case <-c.done:
		return
	default:
	}
	// A busy connection needs no ping: at 10,000 connections they would
	// cost as much as the traffic.
	if time.Since(c.LastRead()) >= c.opts.KeepAlive {
		if c.WriteFrame(PingFrame) != nil {
			return
		}
	}
	c.keep.Reset(c.opts.KeepAlive)
}

func (c *Conn) readLoop() {
	for {
		if c.opts.ReadTimeout > 0 {
			_ = c.ws.SetReadDeadline(time.Now().Add(c.opts.ReadTimeout))
		}
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			c.finish(err)
			return
		}
		c.lastRead.Store(time.Now().UnixNano())
		c.frames.Add(1)
		decode := DecodeFrame
		if c.opts.Lean {
			decode = decodeLean
		}
		evs, err := decode(data)
		if err != nil {
			if c.opts.OnBadFrame != nil {
				c.opts.OnBadFrame(data, err)
			}
			continue
		}
		now := time.Now()
		for i := range evs {
			evs[i].At = now
			c.dispatch(&evs[i])
		}
	}
}

func (c *Conn) dispatch(e *Event) {
	if c.nwait.Load() > 0 {
		c.resolve(e)
	}
	if c.opts.OnEvent != nil {
		c.opts.OnEvent(e)
	}
	if c.opts.Log != nil {
		c.opts.Log.Add(*e)
	}
	if c.qnotify != nil {
		c.qmu.Lock()
		c.queue = append(c.queue, *e)
		c.qmu.Unlock()
		select {
		case c.qnotify <- struct{}{}:
		default:
		}
	}
}

// resolve hands a reply to the call waiting for it.
func (c *Conn) resolve(e *Event) {
	c.waitMu.Lock()
	defer c.waitMu.Unlock()
	var ch chan *Event
	pop := func(m map[int64][]chan *Event, room int64) chan *Event {
		l := m[room]
		if len(l) == 0 {
			return nil
		}
		if len(l) == 1 {
			delete(m, room)
		} else {
			m[room] = l[1:]
		}
		return l[0]
	}
	switch e.Type {
	case TypeAck:
		ch = c.acks[e.CID]
		delete(c.acks, e.CID)
	case TypeSubscribed:
		ch = pop(c.subs, e.Room)
	case TypeUnsubscribed:
		ch = pop(c.unsubs, e.Room)
	case TypePong:
		if len(c.pongs) > 0 {
			ch, c.pongs = c.pongs[0], c.pongs[1:]
		}
	case TypeError:
		switch {
		case e.CID != "":
			ch = c.acks[e.CID]
			delete(c.acks, e.CID)
		case e.Room != 0:
			if ch = pop(c.subs, e.Room); ch == nil {
				ch = pop(c.unsubs, e.Room)
			}
		case len(c.pongs) > 0:
			ch, c.pongs = c.pongs[0], c.pongs[1:]
		default:
			// A refusal naming no room: the oldest subscribe.
			for room := range c.subs {
				ch = pop(c.subs, room)
				break
			}
		}
	}
	if ch != nil {
		c.nwait.Add(-1)
		cp := *e
		ch <- &cp
	}
}

func (c *Conn) finish(err error) {
	var ce *websocket.CloseError
	switch {
	case errors.As(err, &ce):
		c.err = &CloseError{Code: ce.Code, Text: ce.Text}
	case c.closing.Load():
		c.err = ErrClosed
	default:
		c.err = err
	}
	if c.keep != nil {
		c.keep.Stop()
	}
	_ = c.ws.Close()
	close(c.done)
	if c.opts.Log != nil {
		c.opts.Log.end(c.err)
	}
}

// Done is closed when the connection has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err is why the connection ended (nil while it is open): a *CloseError
// when the server sent a close frame (CloseCode), ErrClosed after Close or
// Drop, else the read error (a broken connection, a read timeout).
func (c *Conn) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// LastRead is when the server was last heard (a frame or a ping).
func (c *Conn) LastRead() time.Time { return time.Unix(0, c.lastRead.Load()) }

// Frames counts the text frames read (one may carry many events).
func (c *Conn) Frames() int64 { return c.frames.Load() }

// Response is the handshake's response (body closed): negotiated
// extensions, the server's headers.
func (c *Conn) Response() *http.Response { return c.resp }

// Underlying is the gorilla connection, for tests that need to write what
// no client should. Reading from it breaks the Conn.
func (c *Conn) Underlying() *websocket.Conn { return c.ws }

// NetConn is the TCP (or TLS) connection.
func (c *Conn) NetConn() net.Conn { return c.ws.NetConn() }

// WriteFrame writes one pre-encoded text frame.
func (c *Conn) WriteFrame(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.opts.WriteTimeout))
	if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		_ = c.ws.Close()
		return err
	}
	return nil
}

// WriteJSON writes any value as one text frame (tests of malformed frames).
func (c *Conn) WriteJSON(v any) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.opts.WriteTimeout))
	if err := c.ws.WriteJSON(v); err != nil {
		_ = c.ws.Close()
		return err
	}
	return nil
}

// register adds a waiter under the lock, then writes frame; on a failed
// write the waiter is dropped.
func (c *Conn) call(ctx context.Context, frame []byte, add func(ch chan *Event), remove func(ch chan *Event)) (*Event, error) {
	ch := make(chan *Event, 1)
	c.waitMu.Lock()
	if c.acks == nil {
		c.acks, c.subs, c.unsubs = map[string]chan *Event{}, map[int64][]chan *Event{}, map[int64][]chan *Event{}
	}
	add(ch)
	c.nwait.Add(1)
	c.waitMu.Unlock()
	drop := func() {
		c.waitMu.Lock()
		defer c.waitMu.Unlock()
		select {
		case <-ch: // answered meanwhile: already counted out
		default:
			remove(ch)
			c.nwait.Add(-1)
		}
	}
	if err := c.WriteFrame(frame); err != nil {
		drop()
		return nil, err
	}
	select {
	case e := <-ch:
		return e, e.Err()
	case <-c.done:
		select {
		case e := <-ch:
			return e, e.Err()
		default:
		}
		drop()
		return nil, c.err
	case <-ctx.Done():
		drop()
		return nil, ctx.Err()
	}
}

func removeFrom(m map[int64][]chan *Event, room int64, ch chan *Event) {
	l := m[room]
	for i, x := range l {
		if x == ch {
			m[room] = append(l[:i:i], l[i+1:]...)
			break
		}
	}
	if len(m[room]) == 0 {
		delete(m, room)
	}
}

// Subscribed is the answer to a subscribe.
type Subscribed struct {
	Room int64
	// LastSeq is the room's newest seq when the subscription started: a
	// replay runs up to it, live messages follow it.
	LastSeq int64
}

// Subscribe starts receiving a room live and waits for subscribed. With
// since (Since(n)), the server first replays every message with seq > n, in
// order, then goes live with no gap and no duplicate. A refusal
// (forbidden, not_found, too_many_rooms) is an *Error.
func (c *Conn) Subscribe(ctx context.Context, room int64, since *int64) (*Subscribed, error) {
	e, err := c.call(ctx, SubscribeFrame(room, since),
		func(ch chan *Event) { c.subs[room] = append(c.subs[room], ch) },
		func(ch chan *Event) { removeFrom(c.subs, room, ch) })
	if err != nil {
		return nil, err
	}
	return &Subscribed{Room: e.Room, LastSeq: e.LastSeq}, nil
}

// Unsubscribe stops a room and waits for unsubscribed.
func (c *Conn) Unsubscribe(ctx context.Context, room int64) error {
	_, err := c.call(ctx, roomFrameOf("unsubscribe", room),
		func(ch chan *Event) { c.unsubs[room] = append(c.unsubs[room], ch) },
		func(ch chan *Event) { removeFrom(c.unsubs, room, ch) })
	return err
}

// Ack is the answer to a send: the message is stored as Seq. Duplicate: the
// cid was stored before (a resend), Seq is the original's.
type Ack struct {
	Room      int64
	Seq       int64
	CID       string
	Duplicate bool
}

// Send sends a message and waits for its ack. cid makes it idempotent:
// resend with the same cid after a reconnect and it is stored once. An
// empty cid is replaced by a fresh one (NewCID). A refusal (rate_limited,
// too_large, forbidden...) is an *Error.
func (c *Conn) Send(ctx context.Context, room int64, body, cid string) (*Ack, error) {
	if cid == "" {
		cid = NewCID()
	}
	e, err := c.call(ctx, SendFrame(room, body, cid),
		func(ch chan *Event) { c.acks[cid] = ch },
		func(chan *Event) { delete(c.acks, cid) })
	if err != nil {
		return nil, err
	}
	return &Ack{Room: e.Room, Seq: e.Seq, CID: e.CID, Duplicate: e.Duplicate}, nil
}

// SendAsync writes a send without waiting: its ack (or error) arrives as
// an event.
func (c *Conn) SendAsync(room int64, body, cid string) error {
	return c.WriteFrame(SendFrame(room, body, cid))
}

// SubscribeAsync writes a subscribe without waiting for subscribed.
func (c *Conn) SubscribeAsync(room int64, since *int64) error {
	return c.WriteFrame(SubscribeFrame(room, since))
}

// Typing tells the room's other subscribers that the user is typing.
func (c *Conn) Typing(room int64) error { return c.WriteFrame(roomFrameOf("typing", room)) }

// Ping sends {"type":"ping"} and waits for the pong.
func (c *Conn) Ping(ctx context.Context) error {
	_, err := c.call(ctx, PingFrame,
		func(ch chan *Event) { c.pongs = append(c.pongs, ch) },
		func(ch chan *Event) {
			for i, x := range c.pongs {
				if x == ch {
					c.pongs = append(c.pongs[:i:i], c.pongs[i+1:]...)
					break
				}
			}
		})
	return err
}

// Next returns the next event when the connection was dialled without
// OnEvent and Log; after the last one, the connection's error.
func (c *Conn) Next(ctx context.Context) (Event, error) {
	if c.qnotify == nil {
		return Event{}, errors.New("chatclient: Next on a connection with OnEvent or Log")
	}
	for {
		c.qmu.Lock()
		if len(c.queue) > 0 {
			e := c.queue[0]
			c.queue[0] = Event{}
			c.queue = c.queue[1:]
			if len(c.queue) == 0 {
				c.queue = nil
			}
			c.qmu.Unlock()
			return e, nil
		}
		c.qmu.Unlock()
		select {
		case <-c.done:
			c.qmu.Lock()
			n := len(c.queue)
			c.qmu.Unlock()
			if n == 0 {
				return Event{}, c.err
			}
		default:
		}
		select {
		case <-c.qnotify:
		case <-c.done:
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
}

// Close ends the connection politely: a close frame (1000), then up to a
// second for the server to close first (so TIME_WAIT stays on its side).
func (c *Conn) Close() error { return c.CloseWith(CloseNormal, "", time.Second) }

// CloseWith sends a close frame with code and text and waits up to wait
// for the server to close; a server that does not is reset (SO_LINGER 0).
func (c *Conn) CloseWith(code int, text string, wait time.Duration) error {
	c.closing.Store(true)
	ClosePolitely(c.ws, c.done, code, text, wait)
	return nil
}

// ClosePolitely is CloseWith for any gorilla connection whose read loop
// closes done when it ends (the load generator's Socket.IO connection uses
// it too): a close frame, up to wait for the peer to close first, else a
// reset (SO_LINGER 0); it returns once done is closed.
func ClosePolitely(ws *websocket.Conn, done <-chan struct{}, code int, text string, wait time.Duration) {
	_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(time.Second))
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		if tc, ok := ws.NetConn().(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = ws.Close()
		<-done
	}
}

// Drop closes the TCP connection at once, without a close frame (a client
// that vanishes).
func (c *Conn) Drop() {
	c.closing.Store(true)
	_ = c.ws.Close()
}
