package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/chatgate/chatgate/chatclient"
)

// Protocols the generator speaks: Chatgate's (PROTOCOL.md) and, for
// `make bench-peers` (issue 14), the Socket.IO peer in loadtest/peers/socketio.
const (
	protoChatgate = "chatgate"
	protoSocketIO = "socketio"
)

// wireConn is what a client needs of one connection. *chatclient.Conn is
// Chatgate's; *sioConn speaks Engine.IO v4 / Socket.IO v5 to the peer and
// hands the client the same events (subscribed, ack, message, error), so
// the schedule, the tracker, the histograms and the accounting are shared.
type wireConn interface {
	SubscribeAsync(room int64, since *int64) error
	SendAsync(room int64, body, cid string) error
	WriteFrame(b []byte) error
	Done() <-chan struct{}
	Err() error
	Drop()
	CloseWith(code int, text string, wait time.Duration) error
}

var _ wireConn = (*chatclient.Conn)(nil)

// sioConn is one Socket.IO client over a raw WebSocket
// (/socket.io/?EIO=4&transport=websocket), default namespace only:
//
//	server 0{"sid":…,"pingInterval":…,"pingTimeout":…}   Engine.IO open
//	client 40{"user":…,"name":…}                          Socket.IO connect
//	server 40{"sid":…}
//	client 42<id>["join",room]        server 43<id>[{"room","last_seq"}]
//	client 42<id>["send",{…}]         server 43<id>[{"room","seq","cid"}]
//	server 42["message",{"room","seq","user","body","cid","ts"}]
//	server 2 (ping)                   client 3 (pong)
//
// Acks become "ack" (or "error" with the cid) events, the join's ack a
// "subscribed" event with its last_seq, messages "message" events: what
// Chatgate's client would see. The peer keeps no history, so since is
// ignored and a reconnect cannot resume (the tracker then counts the hole
// as lost, which is the truth).
type sioConn struct {
	ws          *websocket.Conn
	onEvent     func(*chatclient.Event)
	onBad       func([]byte, error)
	readTimeout time.Duration
	writeTO     time.Duration

	wmu     sync.Mutex
	nextID  atomic.Int64
	done    chan struct{}
	err     error
	closing atomic.Bool
}

// sioOpen is the Engine.IO open packet's payload.
type sioOpen struct {
	SID          string `json:"sid"`
	PingInterval int64  `json:"pingInterval"`
	PingTimeout  int64  `json:"pingTimeout"`
}

// sioReply is an ack's payload (join or send) and a message's: the fields
// the generator reads.
type sioReply struct {
	Room    int64  `json:"room"`
	Seq     int64  `json:"seq"`
	LastSeq *int64 `json:"last_seq"`
	Body    string `json:"body"`
	CID     string `json:"cid"`
	Error   string `json:"error"`
}

type sioSend struct {
	Room int64  `json:"room"`
	Body string `json:"body"`
	CID  string `json:"cid"`
}

// sioURL is base (http://host:port) as the Engine.IO WebSocket endpoint.
func sioURL(base string) string {
	u := base
	switch {
	case strings.HasPrefix(u, "https://"):
		u = "wss://" + strings.TrimPrefix(u, "https://")
	case strings.HasPrefix(u, "http://"):
		u = "ws://" + strings.TrimPrefix(u, "http://")
	}
	return u + "/socket.io/?EIO=4&transport=websocket"
}

// dialSIO opens the WebSocket and completes the Engine.IO open and the
// Socket.IO connect before returning, so connect time covers the same
// round trips as Chatgate's dial + subscribe.
func dialSIO(ctx context.Context, d *websocket.Dialer, base string, user int64, name string,
	onEvent func(*chatclient.Event), onBad func([]byte, error), readTimeout, writeTimeout time.Duration,
) (*sioConn, error) {
	ws, resp, err := d.DialContext(ctx, sioURL(base), nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("socket.io dial %s: %w", base, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = ws.SetReadDeadline(dl)
		_ = ws.SetWriteDeadline(dl)
	}
	fail := func(err error) (*sioConn, error) {
		_ = ws.Close()
		return nil, err
	}
	_, data, err := ws.ReadMessage()
	if err != nil {
		return fail(fmt.Errorf("socket.io open: %w", err))
	}
	if len(data) == 0 || data[0] != '0' {
		return fail(fmt.Errorf("socket.io open: unexpected packet %.40q", data))
	}
	var open sioOpen
	if err := json.Unmarshal(data[1:], &open); err != nil {
		return fail(fmt.Errorf("socket.io open: %w", err))
	}
	auth, _ := json.Marshal(map[string]any{"user": user, "name": name})
	if err := ws.WriteMessage(websocket.TextMessage, append([]byte("40"), auth...)); err != nil {
		return fail(fmt.Errorf("socket.io connect: %w", err))
	}
	for {
		_, data, err = ws.ReadMessage()
		if err != nil {
			return fail(fmt.Errorf("socket.io connect: %w", err))
		}
		if bytes.Equal(data, []byte("2")) { // a ping before the connect reply
			if err := ws.WriteMessage(websocket.TextMessage, []byte("3")); err != nil {
				return fail(fmt.Errorf("socket.io connect: %w", err))
			}
			continue
		}
		break
	}
	if !bytes.HasPrefix(data, []byte("40")) {
		return fail(fmt.Errorf("socket.io connect refused: %.80q", data))
	}
	// The server pings every pingInterval and waits pingTimeout for the
	// pong; a connection silent for longer than both is dead.
	if t := time.Duration(open.PingInterval+open.PingTimeout) * time.Millisecond; t > readTimeout {
		readTimeout = t
	}
	_ = ws.SetReadDeadline(time.Time{})
	_ = ws.SetWriteDeadline(time.Time{})
	c := &sioConn{ws: ws, onEvent: onEvent, onBad: onBad, readTimeout: readTimeout, writeTO: writeTimeout, done: make(chan struct{})}
	go c.readLoop()
	return c, nil
}

func (c *sioConn) readLoop() {
	for {
		if c.readTimeout > 0 {
			_ = c.ws.SetReadDeadline(time.Now().Add(c.readTimeout))
		}
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			c.finish(err)
			return
		}
		now := time.Now()
		if err := c.packet(data, now); err != nil {
			if errors.Is(err, errSIOClosed) {
				c.finish(&chatclient.CloseError{Code: chatclient.CloseGoingAway, Text: "socket.io disconnect"})
				_ = c.ws.Close()
				return
			}
			if c.onBad != nil {
				c.onBad(data, err)
			}
		}
	}
}

var errSIOClosed = errors.New("socket.io: closed by the server")

// packet handles one Engine.IO packet.
func (c *sioConn) packet(data []byte, now time.Time) error {
	if len(data) == 0 {
		return errors.New("socket.io: empty packet")
	}
	switch data[0] {
	case '2': // ping
		if c.closing.Load() {
			return nil // our close frame is out: no more writes
		}
		return c.WriteFrame([]byte("3"))
	case '1': // engine close
		return errSIOClosed
	case '4': // a Socket.IO packet
	default:
		return nil // noop, upgrade, pong: nothing to do
	}
	if len(data) < 2 {
		return errors.New("socket.io: short packet")
	}
	p := data[2:]
	switch data[1] {
	case '1': // DISCONNECT
		return errSIOClosed
	case '4': // CONNECT_ERROR
		return fmt.Errorf("socket.io connect error: %.80s", p)
	case '2': // EVENT ["message",{…}]
		const prefix = `["message",`
		if !bytes.HasPrefix(p, []byte(prefix)) || len(p) < len(prefix)+2 || p[len(p)-1] != ']' {
			return fmt.Errorf("socket.io: unexpected event %.60q", p)
		}
		var m sioReply
		if err := json.Unmarshal(p[len(prefix):len(p)-1], &m); err != nil {
			return fmt.Errorf("socket.io message: %w", err)
		}
		c.emit(&chatclient.Event{Type: chatclient.TypeMessage, Room: m.Room, Seq: m.Seq, Body: m.Body, CID: m.CID, At: now})
	case '3': // ACK <id>[{…}]
		i := 0
		for i < len(p) && p[i] >= '0' && p[i] <= '9' {
			i++
		}
		if i == 0 || len(p) < i+3 || p[i] != '[' || p[len(p)-1] != ']' {
			return fmt.Errorf("socket.io: bad ack %.60q", p)
		}
		var r sioReply
		if err := json.Unmarshal(p[i+1:len(p)-1], &r); err != nil {
			return fmt.Errorf("socket.io ack: %w", err)
		}
		switch {
		case r.Error != "":
			c.emit(&chatclient.Event{Type: chatclient.TypeError, Room: r.Room, CID: r.CID, Code: r.Error, Message: "refused by the peer", At: now})
		case r.LastSeq != nil:
			c.emit(&chatclient.Event{Type: chatclient.TypeSubscribed, Room: r.Room, LastSeq: *r.LastSeq, At: now})
		default:
			c.emit(&chatclient.Event{Type: chatclient.TypeAck, Room: r.Room, Seq: r.Seq, CID: r.CID, At: now})
		}
	}
	return nil
}

func (c *sioConn) emit(e *chatclient.Event) {
	if c.onEvent != nil {
		c.onEvent(e)
	}
}

func (c *sioConn) finish(err error) {
	var ce *websocket.CloseError
	switch {
	case c.closing.Load():
		c.err = chatclient.ErrClosed
	case errors.As(err, &ce):
		c.err = &chatclient.CloseError{Code: ce.Code, Text: ce.Text}
	default:
		var cle *chatclient.CloseError
		if errors.As(err, &cle) {
			c.err = cle
		} else {
			c.err = err
		}
	}
	_ = c.ws.Close()
	close(c.done)
}

// emitFrame is 42<id>["event",payload].
func (c *sioConn) emitFrame(event string, payload any) error {
	b, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	id := c.nextID.Add(1) - 1
	frame := make([]byte, 0, len(b)+len(event)+24)
	frame = append(frame, '4', '2')
	frame = strconv.AppendInt(frame, id, 10)
	frame = append(frame, `["`...)
	frame = append(frame, event...)
	frame = append(frame, `",`...)
	frame = append(frame, b...)
	frame = append(frame, ']')
	return c.WriteFrame(frame)
}

// SubscribeAsync joins the room; the ack carries the room's seq now. The
// peer has no history: since is ignored.
func (c *sioConn) SubscribeAsync(room int64, _ *int64) error {
	return c.emitFrame("join", room)
}

// SendAsync emits send with an ack id; the ack carries the seq.
func (c *sioConn) SendAsync(room int64, body, cid string) error {
	return c.emitFrame("send", sioSend{Room: room, Body: body, CID: cid})
}

// WriteFrame writes one text frame; a failed write closes the connection.
func (c *sioConn) WriteFrame(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.writeTO))
	if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		_ = c.ws.Close()
		return err
	}
	return nil
}

func (c *sioConn) Done() <-chan struct{} { return c.done }

// Err is why the connection ended (valid once Done is closed).
func (c *sioConn) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

func (c *sioConn) Drop() {
	c.closing.Store(true)
	_ = c.ws.Close()
}

// CloseWith sends a Socket.IO disconnect and a WebSocket close frame, then
// waits for the server to close first; one that does not is reset.
func (c *sioConn) CloseWith(code int, text string, wait time.Duration) error {
	c.closing.Store(true)
	_ = c.WriteFrame([]byte("41"))
	chatclient.ClosePolitely(c.ws, c.done, code, text, wait)
	return nil
}

// peerUsers are the Socket.IO peer's users and rooms: it has no accounts,
// so they are numbered (user i+1 in room i mod rooms + 1) and nothing is
// created or seeded.
func peerUsers(cfg *Config) ([]SeedUser, []SeedRoom) {
	users := make([]SeedUser, cfg.Users)
	for i := range users {
		users[i] = SeedUser{ID: int64(i + 1), Name: "lt-peer-" + strconv.Itoa(i+1)}
	}
	rooms := make([]SeedRoom, cfg.Rooms)
	for r := range rooms {
		rooms[r] = SeedRoom{ID: int64(r + 1), Name: "lt-peer-room-" + strconv.Itoa(r+1)}
	}
	return users, rooms
}
