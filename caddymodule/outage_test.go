package caddymodule_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatgate/chatgate/internal/gatewaytest"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/chatcore/gateway"
	"github.com/chatgate/chatgate/chatcore/store"
	"github.com/chatgate/chatgate/internal/pgtest"
	"github.com/chatgate/chatgate/internal/testenv"
)

// The misbehaviour table of issue 8: a dependency goes away mid-stream.
// Nothing acknowledged may be lost, and what fails must fail fast with a
// clear "unavailable", on a connection that stays open.

// outageSendRate lifts the per-connection send limit (20/s) above the
// stream the tests send (50/s) plus the retries afterwards.
const outageSendRate = "send_rate 500\nsend_burst 1000"

// startServerOn is startServer with the chat app on the Postgres at dsn
// and with extra app options (e.g. "redis redis://..."): the harness's
// Caddyfile, its postgres line replaced.
func startServerOn(t *testing.T, dsn, appOpts, chatOpts string) *server {
	t.Helper()
	return startServerEdited(t, chatOpts, "\tpostgres "+testDSN+"\n", "\tpostgres "+dsn+"\n\t\t"+appOpts+"\n")
}

// attempt is the outcome of one send frame.
type attempt struct {
	cid      string
	sentAt   time.Time
	doneAt   time.Time // zero while unanswered
	seq      int64     // on ack
	dup      bool      // on ack
	code     string    // on error
	errMsg   string
	retrying bool
}

// sendLog sends frames on one WebSocket and records every answer. Sends
// are answered in order per cid, so one attempt per cid is in flight at a
// time (the test waits for an answer before re-sending a cid).
type sendLog struct {
	t    *testing.T
	w    *wsClient
	room int64

	mu       sync.Mutex
	attempts []*attempt
	open     map[string]*attempt // cid -> attempt awaiting its answer
	acked    map[string]int64    // cid -> seq of its first ack
	stray    []event             // answers to no open attempt
	changed  chan struct{}
	done     chan struct{}
}

func newSendLog(t *testing.T, w *wsClient, room int64) *sendLog {
	l := &sendLog{t: t, w: w, room: room, open: map[string]*attempt{}, acked: map[string]int64{},
		changed: make(chan struct{}, 1), done: make(chan struct{})}
	go l.read()
	return l
}

func (l *sendLog) read() {
	defer close(l.done)
	for e := range l.w.events {
		if e.Type != "ack" && e.Type != "error" {
			continue
		}
		l.mu.Lock()
		a := l.open[e.CID]
		if a == nil {
			l.stray = append(l.stray, e)
		} else {
			delete(l.open, e.CID)
			a.doneAt = time.Now()
			if e.Type == "ack" {
				a.seq, a.dup = e.Seq, e.Duplicate
				if prev, ok := l.acked[e.CID]; ok && prev != e.Seq {
					l.t.Errorf("cid %s acked as seq %d, then as seq %d", e.CID, prev, e.Seq)
				} else if !ok {
					l.acked[e.CID] = e.Seq
				}
			} else {
				a.code, a.errMsg = e.Code, e.Message
			}
		}
		l.mu.Unlock()
		select {
		case l.changed <- struct{}{}:
		default:
		}
	}
}

func (l *sendLog) send(cid string, retrying bool) *attempt {
	l.t.Helper()
	a := &attempt{cid: cid, sentAt: time.Now(), retrying: retrying}
	l.mu.Lock()
	if l.open[cid] != nil {
		l.t.Errorf("cid %s sent again while unanswered", cid)
	}
	l.open[cid] = a
	l.attempts = append(l.attempts, a)
	l.mu.Unlock()
	if err := l.w.conn.WriteJSON(map[string]any{"type": "send", "room": l.room, "body": "body of " + cid, "cid": cid}); err != nil {
		l.t.Errorf("ws write %s: %v", cid, err)
	}
	return a
}

// stream sends a new cid every interval until the returned function is
// called (it waits for the sender to end; the test's cleanup calls it too).
func (l *sendLog) stream(prefix string, interval time.Duration) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for i := 1; ; i++ {
			l.send(fmt.Sprintf("%s-%04d", prefix, i), false)
			select {
			case <-quit:
				return
			case <-tick.C:
			}
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() { close(quit) })
		<-done
	}
	l.t.Cleanup(stop)
	return stop
}

// settle waits until every attempt is answered, failing after within.
func (l *sendLog) settle(within time.Duration) {
	l.t.Helper()
	deadline := time.After(within)
	for {
		l.mu.Lock()
		n := len(l.open)
		var some []string
		for cid, a := range l.open {
			if len(some) < 5 {
				some = append(some, fmt.Sprintf("%s (sent %v ago)", cid, time.Since(a.sentAt).Round(time.Millisecond)))
			}
		}
		l.mu.Unlock()
		if n == 0 {
			return
		}
		select {
		case <-l.changed:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			l.t.Fatalf("%d sends unanswered after %v, e.g. %v (connection: %v)", n, within, some, l.w.closeErr())
		}
	}
}

// snapshot copies the attempts so far.
func (l *sendLog) snapshot() []attempt {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]attempt, len(l.attempts))
	for i, a := range l.attempts {
		out[i] = *a
	}
	return out
}

// ackedSeqs copies cid -> seq of every acked cid.
func (l *sendLog) ackedSeqs() map[string]int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int64, len(l.acked))
	for k, v := range l.acked {
		out[k] = v
	}
	return out
}

// readyWatch polls /readyz every 50 ms and records what it answered when.
type readyWatch struct {
	mu     sync.Mutex
	points []readyPoint
	stop   chan struct{}
	wg     sync.WaitGroup
}

type readyPoint struct {
	at     time.Time
	status int // 0: no answer
	took   time.Duration
}

func watchReady(base string) *readyWatch {
	rw := &readyWatch{stop: make(chan struct{})}
	c := &http.Client{Timeout: 5 * time.Second}
	rw.wg.Add(1)
	go func() {
		defer rw.wg.Done()
		for {
			start := time.Now()
			status := 0
			if resp, err := c.Get(base + "/readyz"); err == nil {
				status = resp.StatusCode
				resp.Body.Close()
			}
			rw.mu.Lock()
			rw.points = append(rw.points, readyPoint{at: start, status: status, took: time.Since(start)})
			rw.mu.Unlock()
			select {
			case <-rw.stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return rw
}

// readyzDown GETs base/readyz now, in the background, and the returned
// function asserts it answered 503 and returns how long it took.
func readyzDown(t *testing.T, base string) func() time.Duration {
	ch := make(chan readyPoint, 1)
	go func() {
		start := time.Now()
		p := readyPoint{at: start}
		if resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(base + "/readyz"); err == nil {
			p.status = resp.StatusCode
			resp.Body.Close()
		}
		p.took = time.Since(start)
		ch <- p
	}()
	return func() time.Duration {
		t.Helper()
		p := <-ch
		if p.status != 503 {
			t.Errorf("%s/readyz during the outage: %d, want 503", base, p.status)
		}
		return p.took
	}
}

func (rw *readyWatch) finish() []readyPoint {
	close(rw.stop)
	rw.wg.Wait()
	return rw.points
}

// checkReady asserts /readyz answered 200 before down, nothing but 503
// while the dependency was down (polls that began after downBy and ended
// before up, the moment the restart began) and 200 again after up. It returns how long after up it first answered 200,
// and the slowest answer during the outage.
func checkReady(t *testing.T, dep string, points []readyPoint, down, downBy, up time.Time) (back, slowest time.Duration) {
	t.Helper()
	back = -1
	for _, p := range points {
		end := p.at.Add(p.took)
		switch {
		case end.Before(down):
			if p.status != 200 {
				t.Errorf("/readyz %d before %s went down", p.status, dep)
			}
		case p.at.After(downBy) && p.at.Before(up):
			slowest = max(slowest, p.took)
			if p.status != 503 && end.Before(up) {
				t.Errorf("/readyz %d at %v into the %s outage, want 503", p.status, p.at.Sub(down).Round(time.Millisecond), dep)
			}
		case p.at.After(up) && p.status == 200 && back < 0:
			back = end.Sub(up)
		}
	}
	if back < 0 {
		t.Errorf("/readyz never answered 200 after %s came back", dep)
	}
	if last := points[len(points)-1]; last.status != 200 {
		t.Errorf("/readyz finally %d, want 200", last.status)
	}
	if slowest > 3*time.Second {
		t.Errorf("/readyz took %v during the %s outage", slowest, dep)
	}
	return back, slowest
}

// receiver follows one subscriber's message events, stamping each with
// its arrival time as it comes.
type receiver struct {
	t    *testing.T
	room int64
	last int64               // highest seq checked, all below it too
	at   map[int64]time.Time // when each checked seq arrived

	mu      sync.Mutex
	arrived []arrival
	closed  error
	wake    chan struct{}
}

type arrival struct {
	e  event
	at time.Time
}

func newReceiver(t *testing.T, w *wsClient, room int64) *receiver {
	rc := &receiver{t: t, room: room, at: map[int64]time.Time{}, wake: make(chan struct{}, 1)}
	go func() {
		for e := range w.events {
			rc.mu.Lock()
			rc.arrived = append(rc.arrived, arrival{e, time.Now()})
			rc.mu.Unlock()
			select {
			case rc.wake <- struct{}{}:
			default:
			}
		}
		rc.mu.Lock()
		rc.closed = fmt.Errorf("connection closed: %v", w.closeErr())
		rc.mu.Unlock()
		select {
		case rc.wake <- struct{}{}:
		default:
		}
	}()
	return rc
}

// next returns the next arrival, waiting until deadline.
func (rc *receiver) next(deadline <-chan time.Time) (arrival, bool) {
	for {
		rc.mu.Lock()
		if len(rc.arrived) > 0 {
			a := rc.arrived[0]
			rc.arrived = rc.arrived[1:]
			rc.mu.Unlock()
			return a, true
		}
		closed := rc.closed
		rc.mu.Unlock()
		if closed != nil {
			rc.t.Fatalf("receiver at seq %d: %v", rc.last, closed)
		}
		select {
		case <-rc.wake:
		case <-deadline:
			return arrival{}, false
		}
	}
}

// until takes message events until every seq up to the highest in want
// (seq -> cid) has arrived, within timeout, and asserts they came exactly
// once, in seq order, with no gap and the right cids, and that nothing
// follows them.
func (rc *receiver) until(want map[int64]string, timeout time.Duration) {
	t := rc.t
	t.Helper()
	var top int64
	for seq := range want {
		top = max(top, seq)
	}
	for seq := int64(1); seq <= top; seq++ {
		if _, ok := want[seq]; !ok {
			t.Errorf("seq %d is in no ack: the store has a message nobody was told about", seq)
		}
	}
	deadline := time.After(timeout)
	for rc.last < top {
		a, ok := rc.next(deadline)
		if !ok {
			t.Fatalf("receiver has seq %d of %d after %v", rc.last, top, timeout)
		}
		e := a.e
		if e.Type != "message" {
			if e.Type == "error" {
				t.Errorf("receiver got an error: %+v", e)
			}
			continue
		}
		if e.Room != rc.room {
			t.Fatalf("message of room %d", e.Room)
		}
		if e.Seq != rc.last+1 {
			t.Fatalf("receiver got seq %d after %d (want %d: in order, once, no gap)", e.Seq, rc.last, rc.last+1)
		}
		if cid := want[e.Seq]; e.CID != cid {
			t.Errorf("seq %d has cid %q, acked as %q", e.Seq, e.CID, cid)
		}
		rc.last = e.Seq
		rc.at[e.Seq] = a.at
	}
	// Nothing more may follow (a duplicate would come right behind).
	if a, ok := rc.next(time.After(300 * time.Millisecond)); ok && a.e.Type == "message" {
		t.Errorf("receiver got an extra message: seq %d cid %s", a.e.Seq, a.e.CID)
	}
}

// checkStored pages the room through REST ?after= and asserts it holds
// exactly want (seq -> cid).
func checkStored(t *testing.T, c *client, room int64, want map[int64]string) {
	t.Helper()
	got := map[int64]string{}
	for after := int64(0); ; {
		r := c.call(t, "GET", fmt.Sprintf("/api/rooms/%d/messages?after=%d&limit=200", room, after), nil)
		if r.status != 200 {
			t.Fatalf("history after %d: %d %s", after, r.status, r.body)
		}
		var page struct {
			Messages []struct {
				Seq int64
				CID string
			}
			HasMore bool `json:"has_more"`
		}
		r.decode(t, &page)
		for _, m := range page.Messages {
			if m.Seq != after+1 {
				t.Fatalf("stored seq %d after %d", m.Seq, after)
			}
			got[m.Seq] = m.CID
			after = m.Seq
		}
		if !page.HasMore || len(page.Messages) == 0 {
			break
		}
	}
	if len(got) != len(want) {
		t.Errorf("store has %d messages, acks name %d", len(got), len(want))
	}
	for seq, cid := range want {
		if got[seq] != cid {
			t.Errorf("stored seq %d has cid %q, acked as %q", seq, got[seq], cid)
		}
	}
}

// bySeq inverts cid -> seq, failing on two cids with one seq.
func bySeq(t *testing.T, acked map[string]int64) map[int64]string {
	t.Helper()
	out := make(map[int64]string, len(acked))
	for cid, seq := range acked {
		if other, ok := out[seq]; ok {
			t.Errorf("seq %d acked to both %s and %s", seq, other, cid)
		}
		out[seq] = cid
	}
	return out
}

// sendAndReceive registers Ann and Bob on s, puts them in a new room and
// connects Ann to s as the sender and Bob to recvOn (s or another instance
// sharing its Postgres and secret) as the subscribed receiver.
func sendAndReceive(t *testing.T, s, recvOn *server) (ann *client, room int64, wa *wsClient, log *sendLog, recv *receiver) {
	t.Helper()
	ann, bob := s.register(t, "Ann"), s.register(t, "Bob")
	room = ann.createRoom(t, fmt.Sprintf("outage-%d", time.Now().UnixNano()), false)
	bob.join(t, room)
	bob.s = recvOn
	wa, wb := ann.dial(t), bob.dial(t)
	t.Cleanup(wa.close)
	t.Cleanup(wb.close)
	wb.subscribe(t, room, nil)
	return ann, room, wa, newSendLog(t, wa, room), newReceiver(t, wb, room)
}

// TestPostgresOutage stops a private Postgres under a steady stream of
// sends and starts it again: sends fail fast with "unavailable" on an open
// connection, retries with the same cids succeed once, re-sending an acked
// cid answers its seq again, and the receiver gets every acked message
// exactly once and in order.
func TestPostgresOutage(t *testing.T) {
	for _, mode := range []string{"fast", "immediate"} {
		t.Run(mode, func(t *testing.T) { testPostgresOutage(t, mode) })
	}
}

// testPostgresOutage is TestPostgresOutage with one pg_ctl stop mode:
// "fast" terminates the sessions, "immediate" is a crash.
func testPostgresOutage(t *testing.T, mode string) {
	pg := pgtest.Start(t)
	s := startServerOn(t, pg.DSN("chatgate"), "", outageSendRate)
	ann, room, wa, log, recv := sendAndReceive(t, s, s)

	rw := watchReady(s.base)
	stop := log.stream("a", 20*time.Millisecond)
	time.Sleep(time.Second)

	down := time.Now()
	pg.Stop(mode)
	stopped := time.Now()
	readyDown := readyzDown(t, s.base)
	// REST during the outage: 503 unavailable, promptly.
	time.Sleep(300 * time.Millisecond)
	restStart := time.Now()
	r, err := tryCall(ann, "POST", fmt.Sprintf("/api/rooms/%d/messages", room), map[string]string{"body": "over REST", "cid": "rest-1"})
	restTook := time.Since(restStart)
	if err != nil {
		t.Fatalf("REST send during the outage: %v", err)
	}
	if r.status != http.StatusServiceUnavailable || r.errCode(t) != "unavailable" {
		t.Errorf("REST send during the outage: %d %s, want 503 unavailable", r.status, r.body)
	}
	if restTook > 3*time.Second {
		t.Errorf("REST send during the outage took %v", restTook)
	}
	readyTook := readyDown()
	time.Sleep(time.Until(down.Add(2500 * time.Millisecond)))
	up := time.Now()
	pg.Start()
	started := time.Since(up)

	// Keep streaming until sends are acked again, and a second more.
	var recovered time.Duration = -1
	for deadline := up.Add(15 * time.Second); recovered < 0; time.Sleep(20 * time.Millisecond) {
		for _, a := range log.snapshot() {
			if a.sentAt.After(up) && a.seq > 0 {
				recovered = a.doneAt.Sub(up)
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no send acked 15s after Postgres came back")
		}
	}
	time.Sleep(time.Second)
	stop()
	log.settle(10 * time.Second)

	// The stream: before the outage every send is acked; failures are
	// "unavailable" and prompt; the connection stayed open.
	var failed []attempt
	var firstFail, lastFail time.Time
	var slowestFail, slowestAck time.Duration
	streamed := log.snapshot()
	for _, a := range streamed {
		took := a.doneAt.Sub(a.sentAt)
		if a.code == "" {
			slowestAck = max(slowestAck, took)
			continue
		}
		if a.code != "unavailable" {
			t.Errorf("send %s failed with %q (%s), want unavailable", a.cid, a.code, a.errMsg)
		}
		if a.sentAt.Before(down.Add(-200 * time.Millisecond)) {
			t.Errorf("send %s failed %v before the outage", a.cid, down.Sub(a.sentAt))
		}
		slowestFail = max(slowestFail, took)
		if firstFail.IsZero() {
			firstFail = a.doneAt
		}
		lastFail = a.doneAt
		failed = append(failed, a)
	}
	if len(failed) == 0 {
		t.Fatal("no send failed while Postgres was down")
	}
	if slowestFail > 3*time.Second {
		t.Errorf("a failing send took %v to be answered", slowestFail)
	}
	if err := wa.closeErr(); err != nil {
		t.Fatalf("sender's connection closed: %v", err)
	}

	// Retry every failed cid: each is acked (as a duplicate if its flush
	// committed before the connection broke).
	retriedDup := 0
	for _, f := range failed {
		a := log.send(f.cid, true)
		log.settle(5 * time.Second)
		if a.code != "" {
			t.Errorf("retry of %s: %s %s", f.cid, a.code, a.errMsg)
		}
		if a.dup {
			retriedDup++
		}
	}
	r = ann.call(t, "POST", fmt.Sprintf("/api/rooms/%d/messages", room), map[string]string{"body": "over REST", "cid": "rest-1"})
	if r.status != http.StatusCreated {
		t.Errorf("REST retry: %d %s", r.status, r.body)
	}
	var restMsg struct{ Seq int64 }
	r.decode(t, &restMsg)

	// Re-sending acked cids answers their seqs again, and stores nothing.
	acked := log.ackedSeqs()
	for _, a := range []attempt{streamed[0], streamed[len(streamed)/2], streamed[len(streamed)-1]} {
		want, ok := acked[a.cid]
		if !ok {
			continue
		}
		again := log.send(a.cid, true)
		log.settle(5 * time.Second)
		if again.seq != want || !again.dup {
			t.Errorf("re-send of acked %s: seq %d dup %v code %q, want seq %d as a duplicate", a.cid, again.seq, again.dup, again.code, want)
		}
	}

	want := bySeq(t, log.ackedSeqs())
	if other, ok := want[restMsg.Seq]; ok {
		t.Errorf("REST message seq %d also acked to %s", restMsg.Seq, other)
	}
	want[restMsg.Seq] = "rest-1"
	recv.until(want, 10*time.Second)
	var lag time.Duration // ack to delivery, for messages stored by that ack
	for _, a := range log.snapshot() {
		if a.seq > 0 && !a.dup {
			lag = max(lag, recv.at[a.seq].Sub(a.doneAt))
		}
	}
	checkStored(t, ann, room, want)
	readyBack, readySlowest := checkReady(t, "Postgres", rw.finish(), down, stopped.Add(100*time.Millisecond), up)
	if len(log.stray) > 0 {
		t.Errorf("answers to no send: %+v", log.stray)
	}

	t.Logf("Postgres down %v (%s stop took %v, start %v); %d sends streamed, %d acked, %d failed (unavailable) from %v to %v after the stop, slowest error %v, slowest ack %v; "+
		"REST send during the outage: 503 in %v; /readyz 503 in %v right after the stop, at most %v; first ack %v after the restart began, /readyz 200 again %v after it; "+
		"%d retried, all acked (%d as duplicates); receiver got all %d messages in order, at most %v after their acks",
		up.Sub(down).Round(time.Millisecond), mode, stopped.Sub(down).Round(time.Millisecond), started.Round(time.Millisecond), len(streamed), len(streamed)-len(failed), len(failed),
		firstFail.Sub(down).Round(time.Millisecond), lastFail.Sub(down).Round(time.Millisecond), slowestFail.Round(time.Millisecond), slowestAck.Round(time.Millisecond),
		restTook.Round(time.Millisecond), readyTook.Round(time.Millisecond), readySlowest.Round(time.Millisecond), recovered.Round(time.Millisecond), readyBack.Round(time.Millisecond),
		len(failed), retriedDup, len(want), lag.Round(time.Millisecond))
}

// startPlainInstance runs a second gateway instance in this process: the
// gateway core and API that the chat app wraps, on an httptest server
// (Caddy's apps are per process, so a second Caddy cannot run here).
func startPlainInstance(t *testing.T, dsn, redisAddr, name string) *server {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr,
		DialTimeout: 2 * time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second})
	_, srv := gatewaytest.Start(t, gateway.Config{Store: store.Config{DSN: dsn, MaxConns: 4},
		Secret: []byte(testSecret), Instance: name, Redis: rdb},
		gateway.APIConfig{SendRate: 500, SendBurst: 1000, UserSendRate: -1})
	s := &server{base: srv.URL, ws: "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"}
	waitReady(t, s.base)
	return s
}

// TestRedisOutage kills the shared Redis of two instances mid-stream and
// restarts it on the same port: sends on one instance keep being acked
// (Postgres is the record), and the receiver on the other instance gets
// every acked message exactly once and in order soon after Redis is back,
// with no later message to reveal the gap: the bus's resync after its
// reconnect must backfill it. Then the live path works again.
//
// With the limits on they count in Redis: while it is down their breaker
// skips it after two failures and each instance counts alone, so sends
// are not held up by the limiter's timeout on the connection's read loop.
func TestRedisOutage(t *testing.T) {
	const ackBound = 2500 * time.Millisecond
	t.Run("limits_off", func(t *testing.T) { testRedisOutage(t, "user_send_rate off", ackBound) })
	t.Run("limits_on", func(t *testing.T) {
		testRedisOutage(t, "user_send_rate 1000\nip_conns 100\nip_connect_rate 100/s 100\nip_request_rate 1000/s 1000\nuser_request_rate 1000/s 1000", ackBound)
	})
}

// testRedisOutage is TestRedisOutage with chatOpts on instance 1;
// ackBound bounds every ack's latency.
func testRedisOutage(t *testing.T, chatOpts string, ackBound time.Duration) {
	rs := testenv.StartRedis(t)
	addr := rs.Addr()
	// Instance 1 has the per-user send limit on, which counts in Redis and
	// must fail open.
	s1 := startServerOn(t, testDSN, "redis redis://"+addr+"/0", outageSendRate+"\n"+chatOpts)
	s2 := startPlainInstance(t, testDSN, addr, "outage-2")

	ann, room, wa, log, recv := sendAndReceive(t, s1, s2)

	// 1 s of stream with Redis up, then 2 s with Redis killed; the stream
	// stops before Redis comes back.
	rw1, rw2 := watchReady(s1.base), watchReady(s2.base)
	stop := log.stream("a", 20*time.Millisecond)
	time.Sleep(time.Second)
	down := time.Now()
	rs.Stop() // SIGKILL
	killed := time.Now()
	ready1, ready2 := readyzDown(t, s1.base), readyzDown(t, s2.base)
	time.Sleep(time.Until(down.Add(2 * time.Second)))
	stop()
	log.settle(10 * time.Second)
	before := log.snapshot()
	var slowest, slowestDown time.Duration
	duringOutage := 0
	for _, a := range before {
		took := a.doneAt.Sub(a.sentAt)
		if a.code != "" {
			t.Errorf("send %s failed with %q (%s) %v after the kill: Redis down must not fail sends",
				a.cid, a.code, a.errMsg, a.sentAt.Sub(down).Round(time.Millisecond))
			continue
		}
		slowest = max(slowest, took)
		if a.sentAt.After(down) {
			duringOutage++
			slowestDown = max(slowestDown, took)
		}
	}
	if duringOutage < 5 {
		t.Errorf("only %d sends during the outage", duringOutage)
	}
	readyTook1, readyTook2 := ready1(), ready2()
	// Redis may answer before Start returns (it waits for a PING): the
	// outage ends when the restart begins.
	up := time.Now()
	rs.Start()
	// One more message right after Redis is back, and nothing after it: it
	// must arrive too, whether it was published or not.
	log.send("c-0001", false)
	log.settle(5 * time.Second)
	want := bySeq(t, log.ackedSeqs())
	recv.until(want, 10*time.Second)
	resynced := recv.at[recv.last].Sub(up)
	before = log.snapshot()

	// Live again: another second of stream arrives as it is sent.
	stop = log.stream("b", 20*time.Millisecond)
	time.Sleep(time.Second)
	stop()
	log.settle(5 * time.Second)
	all := log.snapshot()
	for _, a := range all[len(before):] {
		if a.code != "" {
			t.Errorf("send %s after Redis came back failed: %s %s", a.cid, a.code, a.errMsg)
		}
		slowest = max(slowest, a.doneAt.Sub(a.sentAt))
	}
	if slowest > ackBound {
		t.Errorf("slowest ack took %v, want at most %v", slowest, ackBound)
	}
	want = bySeq(t, log.ackedSeqs())
	recv.until(want, 5*time.Second)
	var liveLag time.Duration
	for _, a := range all[len(before):] {
		liveLag = max(liveLag, recv.at[a.seq].Sub(a.doneAt))
	}
	if err := wa.closeErr(); err != nil {
		t.Fatalf("sender's connection closed: %v", err)
	}
	checkStored(t, ann, room, want)
	back1, slow1 := checkReady(t, "Redis", rw1.finish(), down, killed, up)
	back2, slow2 := checkReady(t, "Redis", rw2.finish(), down, killed, up)
	if len(log.stray) > 0 {
		t.Errorf("answers to no send: %+v", log.stray)
	}

	t.Logf("%s on instance 1: Redis killed for %v; %d sends before the restart, all acked (%d while Redis was down, slowest ack %v there), %d after, all acked (slowest ack overall %v); "+
		"the receiver on the other instance had all %d in order %v after Redis came back; after that, live delivery lag at most %v; "+
		"/readyz 503 in %v (instance 1) and %v (instance 2) right after the kill, in at most %v and %v while it was down, 200 again %v and %v after it came back",
		chatOpts, up.Sub(down).Round(time.Millisecond), len(before), duringOutage, slowestDown.Round(time.Millisecond), len(all)-len(before), slowest.Round(time.Millisecond),
		len(before), resynced.Round(time.Millisecond), liveLag.Round(time.Millisecond),
		readyTook1.Round(time.Millisecond), readyTook2.Round(time.Millisecond), slow1.Round(time.Millisecond), slow2.Round(time.Millisecond), back1.Round(time.Millisecond), back2.Round(time.Millisecond))
}
