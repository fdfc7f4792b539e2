package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/chatgate/chatgate/chatcore"
	"github.com/chatgate/chatgate/chatcore/auth"
	"github.com/chatgate/chatgate/chatcore/socket"
	"github.com/chatgate/chatgate/chatcore/store"
	"github.com/chatgate/chatgate/chatcore/wire"
)

// rawHijacker lets gorilla v1.5.3, which type-asserts http.Hijacker,
// upgrade behind wrappers that only offer Unwrap (Caddy's encode, header and
// idle-timeout writers). It hijacks the innermost writer, net/http's own, so
// the connection is the plain net.Conn: Caddy's response recorder would
// otherwise count every byte written to it, racing with Caddy reading that
// count once ServeHTTP has returned.
type rawHijacker struct{ http.ResponseWriter }

func (h rawHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w := h.ResponseWriter
	for {
		if hj, ok := w.(http.Hijacker); ok {
			if _, wrapped := w.(interface{ Unwrap() http.ResponseWriter }); !wrapped {
				return hj.Hijack()
			}
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			break
		}
		w = u.Unwrap()
	}
	return http.NewResponseController(h.ResponseWriter).Hijack()
}

// maxStrikes is how many refused sends in a row a connection may make
// before it is closed with 4429: a client that ignores rate_limited is a
// flood, not a burst.
const maxStrikes = 50

// session is one WebSocket connection's protocol state. Only the read loop
// touches it, so it needs no lock.
type session struct {
	a      *API
	c      *socket.Conn
	who    auth.Claims
	sends  *rate.Limiter
	typing *rate.Limiter
	// commands limits the frames other than sends; made on first use.
	commands *rate.Limiter
	strikes  int
	// lastStrike ends a run of refusals after strikePause without one, so
	// a client that only rarely overruns its command bucket is never closed.
	lastStrike time.Time
	rooms      map[int64]struct{}
	release    func() // frees the address's connection slot
}

func (a *API) serveWS(w http.ResponseWriter, r *http.Request) {
	if !websocket.IsWebSocketUpgrade(r) {
		a.writeError(w, r, badRequest("expected a WebSocket upgrade"))
		return
	}
	if a.isDraining() {
		a.writeError(w, r, errf(http.StatusServiceUnavailable, wire.CodeUnavailable, "instance draining, reconnect"))
		return
	}
	// Per-address limits answer 429 before the upgrade: it costs the
	// server least, and clients back off on a failed handshake.
	release, err := a.admitConn(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	claims, authErr := a.core.Authenticate(r.Context(), auth.FromRequest(r, true))
	ws, err := a.upgrader.Upgrade(rawHijacker{w}, r, nil)
	if err != nil {
		release()
		return // the upgrader has answered the request
	}
	if authErr != nil {
		// Upgrade first, then close with 4401: a browser sees a close code,
		// whereas a refused handshake tells it nothing.
		reason := "unauthorized: missing or invalid token"
		switch {
		case errors.Is(authErr, auth.ErrExpiredToken):
			reason = "unauthorized: token expired"
		case errors.Is(authErr, auth.ErrEndedToken):
			reason = "unauthorized: session ended"
		}
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(wire.CloseUnauthorized, reason), time.Now().Add(time.Second))
		_ = ws.Close()
		release()
		a.core.Metrics.Disconnects.WithLabelValues("4401").Inc()
		return
	}
	compress := a.cfg.Compression && strings.Contains(strings.ToLower(r.Header.Get("Sec-WebSocket-Extensions")), "permessage-deflate")
	conn := socket.New(ws, &a.cfg.Socket, socketObserver{a.core.Metrics}, claims.UserID, compress)
	// Checked at the upgrade only; the heartbeat ends the connection when
	// the token would no longer be accepted (close 4401 within one ping
	// interval), and the client signs in or reconnects with a fresh one.
	conn.SetExpiry(time.Unix(claims.Expires, 0), wire.CloseUnauthorized, "unauthorized: token expired")
	s := &session{a: a, c: conn, who: claims, release: release,
		sends: rate.NewLimiter(rate.Limit(a.cfg.SendRate), a.cfg.SendBurst)}
	// The connection lives on in its own goroutine and ServeHTTP returns:
	// an idle connection then holds no request state, no net/http buffers
	// and no deep middleware stack, which is most of its memory.
	if !a.track() {
		// Close has begun: this one would outlive the drain.
		conn.Abort(websocket.CloseGoingAway, "server going away: reconnect and resume")
		release()
		return
	}
	go s.run()
}

// run reads the connection until it closes, then cleans up.
func (s *session) run() {
	a, conn := s.a, s.c
	defer a.wg.Done()
	remove := a.conns.Add(conn)
	unbox := a.core.inboxAdd(s.who.UserID, s.who.Gen, conn)
	// A session ended between the handshake's check and the line above
	// was checked before this connection was in the inbox: look again.
	if a.core.sessionEnded(context.Background(), s.who) {
		conn.CloseWith(wire.CloseUnauthorized, "unauthorized: session ended")
	}
	m := a.core.Metrics
	m.Connects.Inc()
	m.Connections.Inc()

	readErr := conn.ReadLoop(s.handle)
	conn.Wait()
	for room := range s.rooms {
		a.core.Hub.Unsubscribe(conn, room)
	}
	unbox()
	remove()
	s.release()
	code := conn.CloseCode()
	var ce *websocket.CloseError
	if code == 0 && errors.As(readErr, &ce) {
		code = ce.Code
	}
	m.Disconnected(code)
}

func (s *session) fail(code, msg, cid string, room int64) {
	s.a.core.Metrics.Errors.WithLabelValues(code).Inc()
	s.c.Send(wire.ErrorEvent{Type: wire.TypeError, Code: code, Message: msg, CID: cid, Room: room})
}

func (s *session) failErr(err error, cid string, room int64) {
	ae := classify(err)
	if ae.status >= 500 {
		s.a.log.Warn("gateway: frame failed", zap.Int64("user", s.who.UserID), zap.Error(err))
	}
	s.fail(ae.code, ae.msg, cid, room)
}

// handle serves one client frame. It runs on the connection's handler
// goroutine (socket.ReadLoop), off the read loop, one frame at a time in
// order: blocking delays this connection's later frames, and past 64 waiting
// frames the read loop stops reading.
func (s *session) handle(data []byte, err error) {
	if err != nil {
		if !s.allowCommand() {
			return
		}
		if errors.Is(err, socket.ErrFrameTooLarge) {
			s.fail(wire.CodeTooLarge, "frame too large", "", 0)
			return
		}
		s.fail(wire.CodeBadRequest, err.Error(), "", 0)
		return
	}
	f, err := wire.DecodeClientFrame(data)
	if err != nil {
		s.fail(wire.CodeBadRequest, err.Error(), f.CID, f.Room)
		return
	}
	if !isWrite(f.Type) && !s.allowCommand() {
		return
	}
	switch f.Type {
	case wire.TypeSend:
		s.send(&f)
	case wire.TypeEdit:
		s.event(&f, chatcore.KindEdit, f.Body)
	case wire.TypeDelete:
		s.event(&f, chatcore.KindDelete, "")
	case wire.TypeReact:
		s.event(&f, chatcore.KindReact, f.Emoji)
	case wire.TypeUnreact:
		s.event(&f, chatcore.KindUnreact, f.Emoji)
	case wire.TypeSubscribe:
		s.subscribe(&f)
	case wire.TypeUnsubscribe:
		if f.Room > 0 {
			s.a.core.Hub.Unsubscribe(s.c, f.Room)
			delete(s.rooms, f.Room)
		}
		s.c.Send(wire.RoomEvent{Type: wire.TypeUnsubbed, Room: f.Room})
	case wire.TypeTyping:
		s.typingFrame(&f)
	case wire.TypePing:
		s.c.Send(wire.RoomEvent{Type: wire.TypePong})
	default: // a type DecodeClientFrame knows but this switch does not serve
		s.fail(wire.CodeBadRequest, "unknown frame type "+quoteShort(f.Type), f.CID, f.Room)
	}
}

func quoteShort(s string) string {
	if len(s) > 32 {
		s = s[:32] + "…"
	}
	b, _ := json.Marshal(s)
	return string(b)
}

func (s *session) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.a.ctx, 5*time.Second)
}

// send is the WebSocket adapter of the send use case (send.go): the
// connection's own bucket is its rate step's first, the ack or error goes
// back from the batcher's callback.
func (s *session) send(f *wire.ClientFrame) {
	ctx, cancel := s.ctx()
	defer cancel()
	room, cid := f.Room, f.CID
	err := s.a.sender().sendAsync(ctx, outgoing{room: room, who: s.who, body: f.Body, cid: cid, files: f.Files}, s.allowSend,
		func(res store.SendResult, err error) {
			if err != nil {
				s.failErr(err, cid, room)
				return
			}
			s.c.Send(wire.AckEvent{Type: wire.TypeAck, CID: cid, Room: room, Seq: res.Msg.Seq, Duplicate: res.Duplicate})
		})
	if err != nil && !errors.Is(err, errClosing) {
		s.failErr(err, cid, room)
	}
}

// isWrite reports whether a frame type is a write, rated by the send
// bucket (sends and room events) rather than the command bucket.
func isWrite(t string) bool {
	switch t {
	case wire.TypeSend, wire.TypeEdit, wire.TypeDelete, wire.TypeReact, wire.TypeUnreact:
		return true
	}
	return false
}

// event is the WebSocket adapter of the room-event use case (events.go),
// answered like a send: an ack (with target) or an error, matched by cid.
func (s *session) event(f *wire.ClientFrame, kind chatcore.Kind, body string) {
	ctx, cancel := s.ctx()
	defer cancel()
	e := roomEvent{room: f.Room, who: s.who, kind: kind, target: f.Seq, body: body, cid: f.CID}
	cid, room := f.CID, f.Room
	err := s.a.eventAsync(ctx, e, s.allowSend, func(res store.EventResult, err error) {
		if err != nil {
			s.failErr(err, cid, room)
			return
		}
		s.c.Send(eventAck(cid, &e, res))
	})
	if err != nil && !errors.Is(err, errClosing) {
		s.failErr(err, cid, room)
	}
}

var errConnSendRate = errf(http.StatusTooManyRequests, wire.CodeRateLimited, "too many messages, slow down")

// allowSend takes a token from the connection's send bucket. A run of
// refusals past maxStrikes closes the connection with 4429 (errClosing).
func (s *session) allowSend() error {
	if s.sends.Allow() {
		s.strikes = 0
		return nil
	}
	s.a.core.Metrics.RateLimited.WithLabelValues("ws_send").Inc()
	if s.strike() {
		s.c.Abort(wire.CloseRateLimited, "rate limited: too many messages")
		return errClosing
	}
	return errConnSendRate
}

// authorize is the membership check of subscribes and typing (authz.go).
func (s *session) authorize(room int64) error {
	ctx, cancel := s.ctx()
	defer cancel()
	return s.a.authorize(ctx, room, s.who)
}

// strikePause is how long without a refusal ends a run of them.
const strikePause = 10 * time.Second

// strike counts one refusal and reports whether the run is past
// maxStrikes: a flood, to be closed with 4429.
func (s *session) strike() bool {
	now := time.Now()
	if now.Sub(s.lastStrike) > strikePause {
		s.strikes = 0
	}
	s.lastStrike = now
	s.strikes++
	return s.strikes > maxStrikes
}

// allowCommand takes a token from the connection's bucket for frames
// other than sends (subscribes, typing, pings): each may cost a membership
// lookup, and a client ignoring rate_limited is closed like a send flood.
func (s *session) allowCommand() bool {
	lim := s.a.cfg.Limits.CommandRate
	if lim.Off() {
		return true
	}
	if s.commands == nil {
		s.commands = rate.NewLimiter(rate.Limit(lim.PerSecond), max(lim.Burst, 1))
	}
	if s.commands.Allow() {
		return true
	}
	s.a.core.Metrics.RateLimited.WithLabelValues("ws_command").Inc()
	if s.strike() {
		s.c.Abort(wire.CloseRateLimited, "rate limited: too many frames")
		return false
	}
	s.fail(wire.CodeRateLimited, "too many frames, slow down", "", 0)
	return false
}

func (s *session) subscribe(f *wire.ClientFrame) {
	if _, ok := s.rooms[f.Room]; !ok && s.a.cfg.Limits.MaxRooms > 0 && len(s.rooms) >= s.a.cfg.Limits.MaxRooms {
		s.pruneRooms()
	}
	if _, ok := s.rooms[f.Room]; !ok && s.a.cfg.Limits.MaxRooms > 0 && len(s.rooms) >= s.a.cfg.Limits.MaxRooms {
		s.fail(wire.CodeTooManyRooms, fmt.Sprintf("subscribed to %d rooms, the most one connection may hold; unsubscribe first", len(s.rooms)), "", f.Room)
		return
	}
	if err := s.authorize(f.Room); err != nil {
		s.failErr(err, "", f.Room)
		return
	}
	if f.Since != nil && *f.Since < 0 {
		s.fail(wire.CodeBadRequest, "since must be a non-negative integer", "", f.Room)
		return
	}
	ctx, cancel := s.ctx()
	defer cancel()
	if _, err := s.a.core.Hub.Subscribe(ctx, s.c, f.Room, f.Since); err != nil {
		s.failErr(err, "", f.Room)
		return
	}
	if s.rooms == nil {
		s.rooms = make(map[int64]struct{})
	}
	s.rooms[f.Room] = struct{}{}
	// A revocation that landed between the check above and the
	// subscription found nothing to end; its notice has dropped the cached
	// membership by now, so this second look sees it.
	if ok, err := s.a.core.isMember(ctx, f.Room, s.who.UserID); err == nil && !ok {
		s.a.core.Hub.UnsubscribeUser(f.Room, s.who.UserID)
	}
}

// pruneRooms forgets the rooms the hub ended this connection's
// subscription to from elsewhere (a leave, a removal): they no longer count
// against max_rooms. Only run at the cap, so it costs nothing before.
func (s *session) pruneRooms() {
	for room := range s.rooms {
		if !s.a.core.Hub.Subscribed(s.c, room) {
			delete(s.rooms, room)
		}
	}
}

func (s *session) typingFrame(f *wire.ClientFrame) {
	if s.typing == nil {
		s.typing = rate.NewLimiter(2, 4) // made on first use: most connections never type
	}
	if !s.typing.Allow() {
		return // typing is best-effort: excess is dropped silently
	}
	if err := s.authorize(f.Room); err != nil {
		s.failErr(err, "", f.Room)
		return
	}
	ctx, cancel := s.ctx()
	defer cancel()
	if err := s.a.core.Typing(ctx, f.Room, s.who.UserID); err != nil {
		s.a.log.Debug("gateway: publish typing", zap.Error(err))
	}
}
