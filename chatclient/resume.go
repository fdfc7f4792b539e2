package chatclient

import (
	"context"
	"errors"
	"math/rand/v2"
	"sort"
	"sync"
	"time"
)

// Tracker follows each room's seq stream (1, 2, 3, ... with no gaps) and
// knows where to resume: the last contiguous seq, the since of the next
// subscribe. Safe for concurrent use.
type Tracker struct {
	mu    sync.Mutex
	rooms map[int64]*roomSeqs
}

type roomSeqs struct {
	last  int64          // every seq ≤ last has been seen (or was not owed)
	ahead map[int64]bool // seen above last, past a gap
}

func (t *Tracker) room(id int64) *roomSeqs {
	if t.rooms == nil {
		t.rooms = map[int64]*roomSeqs{}
	}
	return t.rooms[id]
}

// Start sets where a room's stream starts, if it is not tracked yet: the
// since of the subscribe, or the subscribed event's last_seq for a live one.
func (t *Tracker) Start(room, last int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.room(room) == nil {
		t.rooms[room] = &roomSeqs{last: last}
	}
}

// Observe records a message's seq and reports whether it is new; a seq at
// or below the resume point, or seen before, is a duplicate. An untracked
// room starts at 0 (every message owed).
func (t *Tracker) Observe(room, seq int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.room(room)
	if r == nil {
		r = &roomSeqs{}
		t.rooms[room] = r
	}
	switch {
	case seq <= r.last || r.ahead[seq]:
		return false
	case seq == r.last+1:
		r.last = seq
		for r.ahead[r.last+1] {
			delete(r.ahead, r.last+1)
			r.last++
		}
	default:
		if r.ahead == nil {
			r.ahead = map[int64]bool{}
		}
		r.ahead[seq] = true
	}
	return true
}

// Since is the last contiguous seq of a room and whether it is tracked.
func (t *Tracker) Since(room int64) (int64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if r := t.room(room); r != nil {
		return r.last, true
	}
	return 0, false
}

// Gap reports whether a room has seen seqs past a hole (above Since).
func (t *Tracker) Gap(room int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.room(room)
	return r != nil && len(r.ahead) > 0
}

// Outgoing is a send not yet acked.
type Outgoing struct {
	Room int64
	Body string
	CID  string
	n    uint64
}

// Outbox holds sends until they are acked, to resend them with the same
// cid after a reconnect (the server stores a cid once, so a send that did
// land is only acked again). Safe for concurrent use.
type Outbox struct {
	mu      sync.Mutex
	n       uint64
	pending map[string]Outgoing
}

// Add queues a send (a fresh cid when cid is empty) and returns it.
func (o *Outbox) Add(room int64, body, cid string) Outgoing {
	if cid == "" {
		cid = NewCID()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.pending == nil {
		o.pending = map[string]Outgoing{}
	}
	if m, ok := o.pending[cid]; ok {
		return m
	}
	o.n++
	m := Outgoing{Room: room, Body: body, CID: cid, n: o.n}
	o.pending[cid] = m
	return m
}

// Done removes a send (acked, or refused for good); false if it was not
// pending.
func (o *Outbox) Done(cid string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, ok := o.pending[cid]
	delete(o.pending, cid)
	return ok
}

// Pending lists the unacked sends, oldest first.
func (o *Outbox) Pending() []Outgoing {
	o.mu.Lock()
	out := make([]Outgoing, 0, len(o.pending))
	for _, m := range o.pending {
		out = append(out, m)
	}
	o.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].n < out[j].n })
	return out
}

// Len is the number of unacked sends.
func (o *Outbox) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.pending)
}

// SessionOptions configure a Session.
type SessionOptions struct {
	// Rooms are subscribed on every connection (Session.Subscribe adds).
	Rooms []int64
	// FromStart replays each room from seq 1 on the first subscribe;
	// otherwise the first subscribe is live only.
	FromStart bool
	// OnEvent receives the events of every connection in order, each
	// message once (replays after a reconnect are de-duplicated). Same
	// rules as DialOptions.OnEvent.
	OnEvent func(*Event)
	// OnConnect runs after each connection is subscribed and its unacked
	// sends resent; OnDisconnect when one ends, with its error.
	OnConnect    func(*Conn)
	OnDisconnect func(error)
	// Dial configures each connection (its OnEvent and Log are the
	// session's own).
	Dial DialOptions
	// MinBackoff and MaxBackoff bound the jittered exponential wait
	// between reconnects (100 ms, 5 s).
	MinBackoff, MaxBackoff time.Duration
}

// Session keeps a bot connected and its rooms whole: it dials, subscribes,
// and after any disconnect (a drained instance's 1001, 4408, a dropped
// connection) reconnects with jittered backoff, resubscribes every room
// with since = its last contiguous seq and resends every unacked send with
// its original cid. A 4401 or a refused handshake with 401 ends Run: log in
// again (Client.Login) and run it again.
type Session struct {
	c       *Client
	opts    SessionOptions
	tracker Tracker
	outbox  Outbox

	mu      sync.Mutex
	rooms   []int64
	conn    *Conn
	waiters map[string]chan sessionReply
	// since of the subscribe in flight per room (nil: live), read when
	// its subscribed event arrives, before any replayed message.
	since map[int64]*int64
}

type sessionReply struct {
	ack *Ack
	err error
}

// NewSession prepares a session; Run connects it.
func (c *Client) NewSession(opts SessionOptions) *Session {
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 100 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 5 * time.Second
	}
	return &Session{c: c, opts: opts, rooms: append([]int64(nil), opts.Rooms...), waiters: map[string]chan sessionReply{}, since: map[int64]*int64{}}
}

// Tracker is the session's resume state.
func (s *Session) Tracker() *Tracker { return &s.tracker }

// Outbox holds the session's unacked sends.
func (s *Session) Outbox() *Outbox { return &s.outbox }

// Conn is the current connection (nil between connections).
func (s *Session) Conn() *Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn
}

// Subscribe adds a room, subscribing at once when connected.
func (s *Session) Subscribe(ctx context.Context, room int64) error {
	s.mu.Lock()
	s.rooms = append(s.rooms, room)
	conn := s.conn
	s.mu.Unlock()
	if conn == nil {
		return nil
	}
	return s.subscribe(ctx, conn, room)
}

func (s *Session) subscribe(ctx context.Context, conn *Conn, room int64) error {
	var since *int64
	if n, ok := s.tracker.Since(room); ok {
		since = &n
	} else if s.opts.FromStart {
		since = Since(0)
	}
	s.mu.Lock()
	s.since[room] = since
	s.mu.Unlock()
	_, err := conn.Subscribe(ctx, room, since)
	return err
}

// Send sends a message and waits for its ack, across reconnects: until
// acked the send is resent with the same cid on every new connection. A
// refusal by the server is an *Error; ctx ending leaves the send in the
// outbox (it may still be stored).
func (s *Session) Send(ctx context.Context, room int64, body string) (*Ack, error) {
	m := s.outbox.Add(room, body, "")
	ch := make(chan sessionReply, 1)
	s.mu.Lock()
	s.waiters[m.CID] = ch
	conn := s.conn
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.waiters, m.CID)
		s.mu.Unlock()
	}()
	if conn != nil {
		_ = conn.SendAsync(room, body, m.CID) // a failure is resent on the next connection
	}
	select {
	case r := <-ch:
		return r.ack, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *Session) onEvent(e *Event) {
	switch e.Type {
	case TypeSubscribed:
		// The stream starts here: at since, or live at last_seq.
		start := e.LastSeq
		s.mu.Lock()
		if p := s.since[e.Room]; p != nil {
			start = *p
		}
		s.mu.Unlock()
		s.tracker.Start(e.Room, start)
	case TypeMessage:
		if !s.tracker.Observe(e.Room, e.Seq) {
			return
		}
	case TypeAck, TypeError:
		if e.CID != "" && (e.Type == TypeAck || e.Code != "rate_limited" && e.Code != "unavailable") {
			s.outbox.Done(e.CID)
			s.mu.Lock()
			ch := s.waiters[e.CID]
			s.mu.Unlock()
			if ch != nil {
				r := sessionReply{err: e.Err()}
				if e.Type == TypeAck {
					r.ack = &Ack{Room: e.Room, Seq: e.Seq, CID: e.CID, Duplicate: e.Duplicate}
				}
				select {
				case ch <- r:
				default:
				}
			}
		}
	}
	if s.opts.OnEvent != nil {
		s.opts.OnEvent(e)
	}
}

// Run keeps the session connected until ctx ends (then it returns nil) or
// the server refuses the token (the *CloseError 4401 or the *Error 401).
func (s *Session) Run(ctx context.Context) error {
	d := s.opts.Dial
	d.OnEvent, d.Log = s.onEvent, nil
	for attempt := 0; ; attempt++ {
		conn, err := s.c.Dial(ctx, &d)
		if err == nil {
			err = s.serve(ctx, conn)
			if s.opts.OnDisconnect != nil {
				s.opts.OnDisconnect(err)
			}
			if errors.Is(err, errWasUp) {
				attempt = 0
				err = conn.Err()
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		if StatusOf(err) == 401 || CloseCode(err) == CloseUnauthorized {
			return err
		}
		if !sleepCtx(ctx, Backoff(attempt, s.opts.MinBackoff, s.opts.MaxBackoff)) {
			return nil
		}
	}
}

var errWasUp = errors.New("connection was up")

func (s *Session) serve(ctx context.Context, conn *Conn) error {
	defer conn.Drop()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	s.mu.Lock()
	rooms := append([]int64(nil), s.rooms...)
	s.mu.Unlock()
	for _, room := range rooms {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := s.subscribe(sctx, conn, room)
		cancel()
		if err != nil {
			if CodeOf(err) != "" {
				continue // refused (not a member any more): the others go on
			}
			return err
		}
	}
	s.mu.Lock()
	s.conn = conn
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.conn = nil
		s.mu.Unlock()
	}()
	for _, m := range s.outbox.Pending() {
		if err := conn.SendAsync(m.Room, m.Body, m.CID); err != nil {
			break
		}
	}
	if s.opts.OnConnect != nil {
		s.opts.OnConnect(conn)
	}
	<-conn.Done()
	return errWasUp
}

// Backoff is exponential with full jitter in [d/2, 3d/2), d = base·2^attempt
// up to max: clients that lost their server together must not come back
// together.
func Backoff(attempt int, base, max time.Duration) time.Duration {
	d := base
	for i := 0; i < attempt && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d/2 + time.Duration(rand.Int64N(int64(d)))
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
