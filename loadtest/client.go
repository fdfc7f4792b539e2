package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chatgate/chatgate/chatclient"
)

// client is one simulated user: one WebSocket connection subscribed to one
// room. It sends what the scheduler hands it, checks every delivery, and on
// any disconnect reconnects with jittered backoff and resubscribes with since.
type client struct {
	w        *worker
	u        PlanUser
	room     *roomState
	shard    int
	observer bool // one member per room checks that no cid is stored twice
	urlIdx   int

	mu        sync.Mutex
	tr        seqTracker
	pending   map[string]*sendRec // sent (or queued) and not yet acked
	queue     []*sendRec          // not yet written on the current connection
	ctrl      [][]byte            // control frames to write before sends
	n         int64
	conn      wireConn
	everSub   bool
	up        bool // subscribed on the current connection
	downSince time.Time
	dialStart time.Time
	repairing bool
	joined    bool
	// -mix: the client's own acked messages it may edit or delete, and
	// its reactions (ops.go).
	own  []int64
	mine map[rxKey]*rxState

	wake    chan struct{}
	done    chan struct{}
	firstUp chan struct{} // closed at the first subscribed reply
}

type sendRec struct {
	cid      string
	n        int64
	intended time.Time
	body     string
	// op is "" for a send, else the room event frame's type (edit,
	// delete, react, unreact) about the message target.
	op     string
	target int64
	emoji  string
	// noLag: queued while disconnected, or already written once; its
	// delay is the outage's, not the generator's.
	noLag bool
}

func newClient(w *worker, u PlanUser, room *roomState, shard int) *client {
	return &client{
		w: w, u: u, room: room, shard: shard,
		urlIdx:  u.Global % len(w.cfg.URLs),
		pending: map[string]*sendRec{},
		mine:    map[rxKey]*rxState{},
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		firstUp: make(chan struct{}),
	}
}

func (c *client) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// enqueue schedules one operation (a send, or with -mix an edit, delete or
// reaction: planOp) whose latency counts from intended.
func (c *client) enqueue(intended time.Time, kind opKind, rng *rand.Rand) {
	c.mu.Lock()
	c.n++
	rec := &sendRec{
		cid:      c.opCID(c.n, intended),
		n:        c.n,
		intended: intended,
		body:     makeBody(intended, c.u.ID, c.n, c.w.cfg.BodySize),
		noLag:    !c.up,
	}
	stat := c.planOp(kind, rec, rng)
	c.w.ops[stat].Add(1)
	c.pending[rec.cid] = rec
	c.queue = append(c.queue, rec)
	c.mu.Unlock()
	c.signal()
	c.w.sent.Add(1)
	c.w.sentS.add(intended, 1)
}

// run connects and keeps the client connected until the worker stops.
func (c *client) run(ctx context.Context) {
	defer close(c.done)
	attempt := 0
	for ctx.Err() == nil {
		c.mu.Lock()
		c.dialStart = time.Now()
		c.mu.Unlock()
		conn, err := c.dial(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.w.dialErrors.Add(1)
			c.w.errs.add("dial: " + shortErr(err))
			if isStatus(err, http.StatusUnauthorized) {
				c.relogin(ctx)
			}
			c.rotate()
			if !sleepCtx(ctx, chatclient.Backoff(attempt, 100*time.Millisecond, 5*time.Second)) {
				return
			}
			attempt++
			continue
		}
		code, wasUp := c.serve(ctx, conn)
		if ctx.Err() != nil {
			return
		}
		if wasUp {
			attempt = 0 // the backoff grows only while connections keep failing
		}
		switch code {
		case chatclient.CloseGoingAway: // draining: go elsewhere and resume
			c.rotate()
		case chatclient.CloseUnauthorized:
			c.relogin(ctx)
		case 0:
			c.rotate() // connection died (killed server): try the next URL
		}
		if !sleepCtx(ctx, chatclient.Backoff(attempt, 100*time.Millisecond, 5*time.Second)) {
			return
		}
		attempt++
	}
}

func (c *client) everSubscribed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.everSub
}

func (c *client) rotate() {
	c.mu.Lock()
	c.urlIdx = (c.urlIdx + 1) % len(c.w.cfg.URLs)
	c.mu.Unlock()
}

func (c *client) baseURL() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.w.cfg.URLs[c.urlIdx]
}

func (c *client) token() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.u.Token
}

// dial opens a connection whose events go to handle, in order, on its read
// goroutine, stamped once per frame. A connection silent for -ws-timeout is
// dead; a ping goes out when nothing was heard for a third of it (a busy
// connection sends none).
func (c *client) dial(ctx context.Context) (wireConn, error) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if c.w.cfg.Protocol == protoSocketIO {
		conn, err := dialSIO(dctx, c.w.wsDialer, c.baseURL(), c.u.ID, c.u.Name,
			func(ev *chatclient.Event) { c.handle(ctx, ev, ev.At) },
			func(_ []byte, err error) { c.w.errs.add(shortErr(err)) },
			c.w.cfg.WSTimeout, c.w.cfg.WSTimeout)
		if err != nil {
			return nil, err // a nil *sioConn must not become a non-nil wireConn
		}
		return conn, nil
	}
	conn, err := c.w.api.as(c.baseURL(), c.token()).Dial(dctx, &chatclient.DialOptions{
		OnEvent:      func(ev *chatclient.Event) { c.handle(ctx, ev, ev.At) },
		OnBadFrame:   func(_ []byte, err error) { c.w.errs.add(shortErr(err)) },
		Lean:         true, // no user, no ts: a cheaper decode, as before
		ReadTimeout:  c.w.cfg.WSTimeout,
		WriteTimeout: c.w.cfg.WSTimeout,
		KeepAlive:    c.w.cfg.WSTimeout / 3,
	})
	if err != nil {
		return nil, err
	}
	return conn, nil
}

// relogin renews an expired or rejected token with the stored password.
func (c *client) relogin(ctx context.Context) {
	a, err := c.w.api.as(c.baseURL(), "").Login(ctx, c.u.Email, c.u.Password)
	if err != nil {
		c.w.errs.add("relogin: " + shortErr(err))
		return
	}
	c.mu.Lock()
	c.u.Token = a.Token
	c.mu.Unlock()
}

// serve runs one connection: subscribe (with since after the first time),
// resend what is unacked, then read until the connection ends. It returns
// the close code the server sent (0 for a broken connection) and whether the
// connection got as far as subscribed.
func (c *client) serve(ctx context.Context, conn wireConn) (int, bool) {
	c.mu.Lock()
	c.conn = conn
	var since *int64
	if c.tr.started {
		s := c.tr.since()
		since = &s
	}
	// Everything unacked goes out again, oldest first: the server stores a
	// cid once, so a send that did land is only acked again.
	c.queue = c.queue[:0]
	for _, rec := range c.pending {
		c.queue = append(c.queue, rec)
	}
	sort.Slice(c.queue, func(i, j int) bool { return c.queue[i].n < c.queue[j].n })
	c.mu.Unlock()

	if err := conn.SubscribeAsync(c.room.id, since); err != nil {
		c.w.errs.add("write subscribe: " + shortErr(err))
		conn.Drop()
		return 0, c.markDown()
	}
	stop := make(chan struct{})
	writerDone := make(chan struct{})
	go c.writeLoop(conn, stop, writerDone)
	c.signal()

	<-conn.Done()
	code := c.closed(conn.Err())
	close(stop)
	<-writerDone
	return code, c.markDown()
}

// markDown records the end of a connection; it returns whether the
// connection had been subscribed.
func (c *client) markDown() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	wasUp := c.up
	if c.up {
		c.w.connected.Add(-1)
	}
	c.up = false
	c.conn = nil
	if c.downSince.IsZero() && c.everSub && !c.w.stopping.Load() {
		c.downSince = time.Now()
	}
	return wasUp
}

// writeLoop writes what is queued: control frames, then sends. A failed
// write closes the connection, so serve sees it end.
func (c *client) writeLoop(conn wireConn, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	for {
		select {
		case <-stop:
			return
		case <-c.wake:
		}
		c.mu.Lock()
		ctrl, batch := c.ctrl, c.queue
		c.ctrl, c.queue = nil, nil
		c.mu.Unlock()
		for _, b := range ctrl {
			if conn.WriteFrame(b) != nil {
				return
			}
		}
		for _, rec := range batch {
			var err error
			if rec.op == "" {
				err = conn.SendAsync(c.room.id, rec.body, rec.cid)
			} else {
				err = conn.WriteFrame(rec.frame(c.room.id))
			}
			if err != nil {
				return
			}
			// How late the generator itself was: if this grows, the
			// latency figures measure the tool, not the server.
			c.mu.Lock()
			first := !rec.noLag
			rec.noLag = true
			c.mu.Unlock()
			if first {
				c.w.lagH.record(time.Since(rec.intended))
			}
		}
	}
}

// closed classifies why a connection ended and counts it.
func (c *client) closed(err error) int {
	if c.w.stopping.Load() {
		return chatclient.CloseNormal
	}
	var ce *chatclient.CloseError
	if errors.As(err, &ce) {
		switch ce.Code {
		case chatclient.CloseGoingAway:
			c.w.drained.Add(1)
		case chatclient.CloseTooSlow:
			c.w.tooSlow.Add(1)
		case chatclient.CloseRateLimited:
			c.w.rateLimited.Add(1)
		case chatclient.CloseUnauthorized:
			c.w.unauthorized.Add(1)
		default:
			c.w.errs.add(fmt.Sprintf("closed by server: %d %s", ce.Code, ce.Text))
		}
		return ce.Code
	}
	c.w.dropped.Add(1)
	c.w.errs.add("connection lost: " + shortErr(err))
	return 0
}

func (c *client) handle(ctx context.Context, ev *chatclient.Event, now time.Time) {
	switch ev.Type {
	case "message", "edit", "delete", "reaction":
		// Room events are entries of the stream like messages, with
		// their own seq: the same exactly-once, in-order rules.
		if ev.Room == c.room.id {
			kind, _ := entryKindOf(ev.Type)
			c.onEntry(ctx, ev, kind, now)
		}
	case "ack":
		c.onAck(ev, now)
	case "subscribed":
		if ev.Room == c.room.id {
			c.onSubscribed(ev, now)
		}
	case "error":
		c.onError(ctx, ev)
	}
}

func (c *client) onSubscribed(ev *chatclient.Event, now time.Time) {
	c.mu.Lock()
	c.tr.subscribed(ev.LastSeq)
	first := !c.everSub
	c.everSub = true
	wasUp := c.up
	c.up = true
	down := c.downSince
	c.downSince = time.Time{}
	dialStart := c.dialStart
	c.mu.Unlock()
	if !wasUp {
		c.w.connected.Add(1)
	}
	switch {
	case first:
		c.w.connectH.record(now.Sub(dialStart))
		c.w.usersUp.Add(1)
		close(c.firstUp)
	case !down.IsZero():
		c.w.reconnectH.record(now.Sub(down))
		c.w.reconnects.Add(1)
	}
}

func (c *client) onEntry(ctx context.Context, ev *chatclient.Event, kind entryKind, now time.Time) {
	c.mu.Lock()
	res := c.tr.receive(ev.Seq)
	// The Socket.IO peer has no history to fetch a hole from: it stays
	// lost.
	startRepair := c.tr.hasHole() && !c.repairing && c.w.cfg.Protocol != protoSocketIO
	if startRepair {
		c.repairing = true
	}
	c.mu.Unlock()
	if res == arrNew || res == arrNewGap {
		c.w.delivered(c.shard, kind, ev.Body, ev.CID, now)
	}
	if startRepair {
		time.AfterFunc(c.w.cfg.GapGrace, func() { c.repair(ctx, 0) })
	}
	if c.observer && ev.CID != "" {
		c.room.checkCID(ev.CID, ev.Seq)
	}
}

func (c *client) onAck(ev *chatclient.Event, now time.Time) {
	c.mu.Lock()
	rec := c.pending[ev.CID]
	delete(c.pending, ev.CID)
	if rec != nil {
		c.acked(rec, ev.Seq)
	}
	c.mu.Unlock()
	if rec == nil {
		return // the ack of a resend that had already been acked
	}
	c.w.acked.Add(1)
	c.w.ackedS.add(now, 1)
	c.w.ackH.record(now.Sub(rec.intended))
	if ev.Noop {
		c.w.ops[statNoop].Add(1) // no entry: seq 0
		return
	}
	c.room.ackedSeq(ev.Seq)
}

func (c *client) onError(ctx context.Context, ev *chatclient.Event) {
	if ev.CID == "" {
		c.w.errs.add("server error: " + ev.Code + ": " + ev.Message)
		c.mu.Lock()
		retryJoin := !c.up && !c.joined && (ev.Code == "forbidden" || ev.Code == "not_found")
		c.joined = c.joined || retryJoin
		c.mu.Unlock()
		if retryJoin {
			// The seed said we were a member and the server disagrees
			// (database reset): join, then subscribe again.
			go c.joinAndResubscribe(ctx)
		}
		return
	}
	c.mu.Lock()
	rec := c.pending[ev.CID]
	c.mu.Unlock()
	if rec == nil {
		return
	}
	if ev.Code == "rate_limited" || ev.Code == "unavailable" {
		// Refused, not lost: every send must end acked, so try again.
		if ev.Code == "rate_limited" {
			c.w.rateLimited.Add(1)
		}
		time.AfterFunc(time.Second+time.Duration(rand.Int64N(int64(time.Second))), func() {
			c.mu.Lock()
			if _, ok := c.pending[rec.cid]; ok {
				c.queue = append(c.queue, rec)
			}
			c.mu.Unlock()
			c.signal()
		})
		return
	}
	c.mu.Lock()
	delete(c.pending, ev.CID)
	if rec.op != "" {
		c.acked(rec, 0) // a refused reaction is no longer in flight
	}
	c.mu.Unlock()
	c.w.sendErrors.Add(1)
	c.w.errs.add("send refused: " + ev.Code + ": " + ev.Message)
}

func (c *client) joinAndResubscribe(ctx context.Context) {
	if err := c.w.api.as(c.baseURL(), c.token()).Join(ctx, c.room.id); err != nil && !isStatus(err, http.StatusConflict) {
		c.w.errs.add("join: " + shortErr(err))
		return
	}
	c.mu.Lock()
	var since *int64
	if c.tr.started {
		s := c.tr.since()
		since = &s
	}
	c.ctrl = append(c.ctrl, chatclient.SubscribeFrame(c.room.id, since))
	c.mu.Unlock()
	c.signal()
}

// repair fetches a hole the stream did not fill within the grace time with
// REST after=, as a real client would. Each fetched seq counts as recovered;
// what the server cannot produce stays lost.
func (c *client) repair(ctx context.Context, attempt int) {
	c.mu.Lock()
	after, upTo, hole := c.tr.next-1, c.tr.maxSeen, c.tr.hasHole()
	c.mu.Unlock()
	for hole && ctx.Err() == nil {
		page, err := c.w.api.as(c.baseURL(), c.token()).MessagesAfter(ctx, c.room.id, after, 200)
		if err != nil {
			c.w.errs.add("gap repair: " + shortErr(err))
			break
		}
		msgs, more := page.Messages, page.HasMore
		now := time.Now()
		for _, m := range msgs {
			if m.Seq > upTo {
				more = false
				break
			}
			c.mu.Lock()
			ok := c.tr.fill(m.Seq)
			c.mu.Unlock()
			if ok {
				kind, _ := entryKindOf(m.Type)
				c.w.delivered(c.shard, kind, m.Body, m.CID, now)
			}
			after = m.Seq
		}
		if !more || len(msgs) == 0 || after >= upTo {
			break
		}
	}
	c.mu.Lock()
	c.repairing = false
	again := c.tr.hasHole() && attempt < 3
	if again {
		c.repairing = true
	}
	c.mu.Unlock()
	if again {
		time.AfterFunc(c.w.cfg.GapGrace, func() { c.repair(ctx, attempt+1) })
	}
}

// stop closes the connection politely: a close frame, then wait for the
// server to close first so TIME_WAIT stays on the server side; a server that
// does not close in time is reset (SO_LINGER 0).
func (c *client) stop(wait time.Duration) {
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	t := time.NewTimer(wait)
	defer t.Stop()
	if conn != nil {
		_ = conn.CloseWith(chatclient.CloseNormal, "load test done", wait)
	}
	select {
	case <-c.done:
	case <-t.C:
	}
}

// snapshotCounts reads the tracker's verdict against the room's final seq.
func (c *client) snapshotCounts(final int64) (started bool, expected, delivered, lost, dup, reord, gaps, recovered int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &c.tr
	return t.started, t.expected(final), t.deliveredUpTo(final), t.lost(final), t.duplicated, t.reordered, t.gaps, t.recovered
}

func (c *client) unacked() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}

func (c *client) complete(final int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tr.complete(final)
}

func (c *client) maxSeen() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tr.maxSeen
}

// roomState is what a worker knows of one room across its members.
type roomState struct {
	id       int64
	members  []*client
	maxAcked atomic.Int64

	mu          sync.Mutex
	cids        map[string]int64
	storedTwice int64
	targets     roomTargets
}

func (r *roomState) ackedSeq(seq int64) {
	for {
		cur := r.maxAcked.Load()
		if seq <= cur || r.maxAcked.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// checkCID catches a cid stored under two seqs: the server's dedupe failing
// on a resend would otherwise look like two good messages.
func (r *roomState) checkCID(cid string, seq int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cids == nil {
		r.cids = map[string]int64{}
	}
	if prev, ok := r.cids[cid]; ok && prev != seq {
		r.storedTwice++
		return
	}
	r.cids[cid] = seq
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

// addrPattern matches the IPv4 address:port pairs that make every network
// error message unique.
var addrPattern = regexp.MustCompile(`\d{1,3}(\.\d{1,3}){3}:\d+`)

// shortErr keeps error logs groupable: addresses and ports vary per
// connection, so they are masked (gorilla flattens timeouts into plain
// strings, so unwrapping alone is not enough), and long messages are cut.
func shortErr(err error) string {
	s := addrPattern.ReplaceAllString(err.Error(), "ADDR")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
