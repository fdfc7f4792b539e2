package caddymodule_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/chatgate/chatgate/chatclient"
	"github.com/chatgate/chatgate/chatcore/auth"
)

func TestWebSocketChat(t *testing.T) {
	s := startServer(t, "")
	ann, bob := s.register(t, "Ann"), s.register(t, "Bob")
	room := ann.createRoom(t, "live", false)
	bob.join(t, room)

	wa, wb := ann.dial(t), bob.dial(t)
	defer wa.close()
	defer wb.close()
	if last := wa.subscribe(t, room, nil); last != 0 {
		t.Fatalf("last_seq %d", last)
	}
	wb.subscribe(t, room, nil)

	wa.send(t, map[string]any{"type": "send", "room": room, "body": "hello bob", "cid": "a1"})
	var ack, mine event
	for ack.Type == "" || mine.Type == "" {
		e := wa.next(t, "ack", "message")
		if e.Type == "ack" {
			ack = e
		} else {
			mine = e
		}
	}
	if ack.CID != "a1" || ack.Seq != 1 || ack.Room != room {
		t.Fatalf("ack %+v", ack)
	}
	got := wb.next(t, "message")
	user := got.User
	if got.Body != "hello bob" || got.Seq != 1 || got.CID != "a1" || user.ID != ann.id || user.Name != "Ann" || mine.Seq != 1 {
		t.Fatalf("bob got %+v user %+v; ann got %+v", got, user, mine)
	}
	if _, err := time.Parse(time.RFC3339Nano, got.TS); err != nil {
		t.Fatalf("ts %q: %v", got.TS, err)
	}

	// Typing reaches the others, not the typist.
	wa.send(t, map[string]any{"type": "typing", "room": room})
	typing := wb.next(t, "typing")
	if typing.Room != room || typing.User != (chatclient.UserRef{ID: ann.id}) {
		t.Fatalf("typing %+v", typing)
	}
	wa.send(t, map[string]any{"type": "ping"})
	if e := wa.next(t, "pong"); e.Type != "pong" {
		t.Fatal(e)
	}

	// A REST send takes the same path to the sockets.
	if r := bob.call(t, "POST", fmt.Sprintf("/api/rooms/%d/messages", room), map[string]string{"body": "via rest", "cid": "b1"}); r.status != 201 {
		t.Fatalf("rest send: %d %s", r.status, r.body)
	}
	for _, w := range []*wsClient{wa, wb} {
		if e := w.next(t, "message"); e.Seq != 2 || e.Body != "via rest" {
			t.Fatalf("got %+v", e)
		}
	}

	// Unsubscribe stops delivery.
	wb.send(t, map[string]any{"type": "unsubscribe", "room": room})
	wb.next(t, "unsubscribed")
	wa.send(t, map[string]any{"type": "send", "room": room, "body": "bob left", "cid": "a2"})
	wa.next(t, "ack")
	wb.send(t, map[string]any{"type": "ping"})
	if e := wb.next(t, "pong", "message"); e.Type != "pong" {
		t.Fatalf("unsubscribed bob got %+v", e)
	}
}

// TestConcurrentSenders: 20 users sending at once; every subscriber sees
// seq 1..N, in order, each exactly once, and every ack names a distinct seq.
func TestConcurrentSenders(t *testing.T) {
	s := startServer(t, "")
	owner := s.register(t, "Owner")
	room := owner.createRoom(t, "busy", false)
	watcher := owner.dial(t)
	defer watcher.close()
	watcher.subscribe(t, room, nil)

	const senders, each = 20, 25
	var mu sync.Mutex
	acked := map[int64]string{}
	var wg sync.WaitGroup
	for i := 0; i < senders; i++ {
		c := s.register(t, fmt.Sprintf("S%d", i))
		c.join(t, room)
		w := c.dial(t)
		defer w.close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < each; j++ {
				cid := fmt.Sprintf("%d-%d", c.id, j)
				if err := w.conn.WriteJSON(map[string]any{"type": "send", "room": room, "body": "msg " + cid, "cid": cid}); err != nil {
					t.Errorf("write: %v", err)
					return
				}
			}
			for n := 0; n < each; {
				select {
				case e, ok := <-w.events:
					if !ok {
						t.Errorf("sender closed: %v", w.closeErr())
						return
					}
					if e.Type == "error" {
						t.Errorf("sender got %+v", e)
						return
					}
					if e.Type != "ack" {
						continue
					}
					n++
					mu.Lock()
					if prev, dup := acked[e.Seq]; dup {
						t.Errorf("seq %d acked twice (%s, %s)", e.Seq, prev, e.CID)
					}
					acked[e.Seq] = e.CID
					mu.Unlock()
				case <-time.After(15 * time.Second):
					t.Errorf("sender timed out after %d acks", n)
					return
				}
			}
		}()
	}
	wg.Wait()
	total := int64(senders * each)
	for want := int64(1); want <= total; want++ {
		e := watcher.next(t, "message")
		if e.Seq != want {
			t.Fatalf("watcher got seq %d, want %d", e.Seq, want)
		}
		if acked[e.Seq] != e.CID {
			t.Fatalf("seq %d is %q but was acked as %q", e.Seq, e.CID, acked[e.Seq])
		}
	}
	if int64(len(acked)) != total {
		t.Fatalf("%d acks, want %d", len(acked), total)
	}
	// The frames were batched: fewer frames than events.
	if f := watcher.conn.Frames(); f >= total+1 {
		t.Logf("watcher got %d frames for %d events (no batching under this load)", f, total+1)
	}
}

// TestResume: a client that was away resumes with since and gets exactly
// what it missed, then the live stream, from the ring and from the store.
func TestResume(t *testing.T) {
	s := startServer(t, "")
	ann, bob := s.register(t, "Ann"), s.register(t, "Bob")
	room := ann.createRoom(t, "resume", false)
	bob.join(t, room)
	post := func(c *client, n int, tag string) {
		for i := 0; i < n; i++ {
			if r := c.call(t, "POST", fmt.Sprintf("/api/rooms/%d/messages", room), map[string]string{"body": tag, "cid": fmt.Sprintf("%s-%d", tag, i)}); r.status != 201 {
				t.Fatalf("post: %d %s", r.status, r.body)
			}
		}
	}
	// Someone keeps the room live on this instance so the ring fills.
	keeper := ann.dial(t)
	defer keeper.close()
	keeper.subscribe(t, room, nil)

	wb := bob.dial(t)
	wb.subscribe(t, room, nil)
	post(ann, 5, "before")
	var last int64
	for i := 0; i < 5; i++ {
		last = wb.next(t, "message").Seq
	}
	wb.close()

	post(ann, 30, "away") // seq 6..35, from the ring
	expectRun := func(w *wsClient, from, to int64) {
		t.Helper()
		for want := from; want <= to; want++ {
			if e := w.next(t, "message"); e.Seq != want {
				t.Fatalf("got seq %d, want %d", e.Seq, want)
			}
		}
	}
	// A post's 201 comes with its commit, its fan-out just after: wait
	// until the hub has it (the keeper sees it) before resubscribing.
	for keeper.next(t, "message").Seq < 35 {
	}
	wb = bob.dial(t)
	if lastSeq := wb.subscribe(t, room, &last); lastSeq != 35 {
		t.Fatalf("subscribed last_seq %d", lastSeq)
	}
	expectRun(wb, 6, 35)
	post(ann, 1, "live")
	expectRun(wb, 36, 36)
	wb.close()

	// Far behind: more than the ring holds, so the store serves it, paced.
	post(ann, 300, "bulk") // 37..336
	wb = bob.dial(t)
	defer wb.close()
	wb.subscribe(t, room, ptr(int64(0)))
	done := make(chan struct{})
	go func() { post(bob, 10, "during"); close(done) }() // 337..346 arrive mid-replay
	expectRun(wb, 1, 346)
	<-done
	wb.send(t, map[string]any{"type": "ping"})
	if e := wb.next(t, "pong", "message"); e.Type != "pong" {
		t.Fatalf("duplicate after resume: %+v", e)
	}

	// since beyond the end is not an error: live from there.
	wc := ann.dial(t)
	defer wc.close()
	wc.subscribe(t, room, ptr(int64(346)))
	post(bob, 1, "tail")
	expectRun(wc, 347, 347)
}

func TestWebSocketBadInput(t *testing.T) {
	s := startServer(t, "max_frame 8KiB")
	ann, bob := s.register(t, "Ann"), s.register(t, "Bob")
	room := ann.createRoom(t, "strict", false)
	priv := bob.createRoom(t, "bob only", true)
	w := ann.dial(t)
	defer w.close()
	w.subscribe(t, room, nil)

	cases := []struct {
		name  string
		frame string
		code  string
		cid   string
	}{
		{"malformed JSON", `{"type":"send",`, "bad_request", ""},
		{"not an object", `[1,2,3]`, "bad_request", ""},
		{"no type", `{"room":1}`, "bad_request", ""},
		{"unknown type", `{"type":"dance","room":1}`, "bad_request", ""},
		{"unknown room", `{"type":"send","room":999999999,"body":"x","cid":"u1"}`, "not_found", "u1"},
		{"non-member", fmt.Sprintf(`{"type":"send","room":%d,"body":"x","cid":"n1"}`, priv), "forbidden", "n1"},
		{"subscribe non-member", fmt.Sprintf(`{"type":"subscribe","room":%d}`, priv), "forbidden", ""},
		{"subscribe unknown room", `{"type":"subscribe","room":999999999}`, "not_found", ""},
		{"subscribe no room", `{"type":"subscribe"}`, "bad_request", ""},
		{"negative since", fmt.Sprintf(`{"type":"subscribe","room":%d,"since":-2}`, room), "bad_request", ""},
		{"empty body", fmt.Sprintf(`{"type":"send","room":%d,"body":"","cid":"e1"}`, room), "bad_request", "e1"},
		{"body too large", fmt.Sprintf(`{"type":"send","room":%d,"body":"%s","cid":"big"}`, room, strings.Repeat("b", 4097)), "too_large", "big"},
		{"frame too large", fmt.Sprintf(`{"type":"send","room":%d,"body":"%s","cid":"huge"}`, room, strings.Repeat("h", 9000)), "too_large", ""},
		{"wrong field type", `{"type":"send","room":"one"}`, "bad_request", ""},
	}
	for _, c := range cases {
		if err := w.conn.WriteFrame([]byte(c.frame)); err != nil {
			t.Fatalf("%s: write: %v", c.name, err)
		}
		e := w.next(t, "error")
		if e.Code != c.code || e.CID != c.cid || e.Message == "" {
			t.Errorf("%s: got %+v, want code %s cid %q", c.name, e, c.code, c.cid)
		}
	}
	if err := w.conn.Underlying().WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if e := w.next(t, "error"); e.Code != "bad_request" {
		t.Errorf("binary frame: %+v", e)
	}

	// Duplicate cid: acked again with the same seq, stored once.
	w.send(t, map[string]any{"type": "send", "room": room, "body": "once", "cid": "dup"})
	first := w.next(t, "ack")
	if m := w.next(t, "message"); m.Seq != first.Seq {
		t.Fatalf("message %+v", m)
	}
	w.send(t, map[string]any{"type": "send", "room": room, "body": "once", "cid": "dup"})
	again := w.next(t, "ack")
	if again.Seq != first.Seq || !again.Duplicate {
		t.Fatalf("resend acked %+v, first %+v", again, first)
	}
	w.send(t, map[string]any{"type": "send", "room": room, "body": "different", "cid": "dup"})
	if e := w.next(t, "error"); e.Code != "conflict" || e.CID != "dup" {
		t.Fatalf("cid reuse: %+v", e)
	}

	// After all of it the connection still works, and nothing bad was stored.
	w.send(t, map[string]any{"type": "send", "room": room, "body": "still here", "cid": "ok"})
	if a := w.next(t, "ack"); a.Seq != first.Seq+1 {
		t.Fatalf("ack %+v", a)
	}
	if m := w.next(t, "message"); m.Body != "still here" {
		t.Fatalf("message %+v", m)
	}
	r := ann.call(t, "GET", fmt.Sprintf("/api/rooms/%d", room), nil)
	if !strings.Contains(string(r.body), `"last_seq":2`) {
		t.Fatalf("room after bad input: %s", r.body)
	}
}

func TestWebSocketAuth(t *testing.T) {
	s := startServer(t, "")
	ann := s.register(t, "Ann")
	signer, _ := auth.NewSigner([]byte(testSecret), time.Hour)
	expired := signer.IssueUntil(ann.id, "Ann", time.Now().Add(-time.Second))

	for name, q := range map[string]string{"none": "", "garbage": "?token=nope", "expired": "?token=" + expired} {
		w, err := ann.dialWith(nil, nil, q)
		if err != nil {
			t.Fatalf("%s: dial: %v", name, err)
		}
		if code := closeCode(w.closed(t, 5*time.Second)); code != 4401 {
			t.Errorf("%s token: close code %d, want 4401", name, code)
		}
	}
	// The token in the query and in the cookie both work.
	for name, dial := range map[string]func() (*wsClient, error){
		"query": func() (*wsClient, error) {
			return ann.dialWith(nil, nil, "?token="+ann.token)
		},
		"cookie": func() (*wsClient, error) {
			return ann.dialWith(nil, http.Header{"Cookie": {auth.CookieName + "=" + ann.token}}, "")
		},
	} {
		w, err := dial()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		w.send(t, map[string]any{"type": "ping"})
		w.next(t, "pong")
		w.close()
	}
	// A plain GET on /ws is a clear 400, not a hang.
	if r := s.call(t, "GET", "/ws", ann.token, nil); r.status != 400 || r.errCode(t) != "bad_request" {
		t.Fatalf("plain GET /ws: %d %s", r.status, r.body)
	}
	// A cross-origin upgrade is refused.
	if _, err := ann.dialWith(nil, http.Header{"Authorization": {"Bearer " + ann.token}, "Origin": {"http://evil.example"}}, ""); chatclient.StatusOf(err) != 403 || chatclient.CodeOf(err) != "forbidden" {
		t.Fatalf("cross-origin upgrade: %v", err)
	}
}

func TestRateLimit(t *testing.T) {
	s := startServer(t, "send_rate 5\nsend_burst 5")
	ann := s.register(t, "Ann")
	room := ann.createRoom(t, "flood", false)
	w := ann.dial(t)
	defer w.close()
	for i := 0; i < 10; i++ {
		w.send(t, map[string]any{"type": "send", "room": room, "body": "x", "cid": fmt.Sprint(i)})
	}
	acks, limited := 0, 0
	for acks+limited < 10 {
		e := w.next(t, "ack", "error")
		if e.Type == "ack" {
			acks++
		} else if e.Code == "rate_limited" && e.CID != "" {
			limited++
		} else {
			t.Fatalf("unexpected %+v", e)
		}
	}
	if acks < 5 || limited == 0 {
		t.Fatalf("acks %d, limited %d", acks, limited)
	}
	// A flood that ignores rate_limited is cut off with 4429.
	for i := 0; i < 200; i++ {
		// Raw: chatclient drops the connection on a failed write, which
		// could lose the server's close frame.
		if err := w.conn.Underlying().WriteJSON(map[string]any{"type": "send", "room": room, "body": "x", "cid": fmt.Sprint("f", i)}); err != nil {
			break
		}
	}
	if code := closeCode(w.closed(t, 5*time.Second)); code != 4429 {
		t.Fatalf("flood: close code %d, want 4429", code)
	}
}

// TestSlowConsumer: a client that stops reading is disconnected with 4408
// instead of stalling the room, and loses nothing: it resumes with since.
func TestSlowConsumer(t *testing.T) {
	// A short write_timeout: the 4408 close frame waits that long for the
	// stalled socket before the connection is dropped.
	s := startServer(t, "queue_frames 64\nqueue_bytes 64KiB\nwrite_timeout 2s")
	ann, bob := s.register(t, "Ann"), s.register(t, "Bob")
	room := ann.createRoom(t, "firehose", false)
	bob.join(t, room)
	fast := ann.dial(t)
	defer fast.close()
	fast.subscribe(t, room, nil)

	// Bob's socket: a tiny receive buffer, and nobody reading it.
	d := websocket.Dialer{NetDial: func(network, addr string) (net.Conn, error) {
		c, err := net.Dial(network, addr)
		if err == nil {
			_ = c.(*net.TCPConn).SetReadBuffer(4096)
		}
		return c, err
	}}
	conn, _, err := d.Dial(s.ws, http.Header{"Authorization": {"Bearer " + bob.token}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.WriteJSON(map[string]any{"type": "subscribe", "room": room}); err != nil {
		t.Fatal(err)
	}

	// Metrics are per process: other tests may have cut clients off
	// before, so count from here.
	const disconnects, overflows = `chatgate_ws_disconnects_total{code="4408"}`, "chatgate_queue_overflows_total"
	cut0, over0 := s.metricValue(t, disconnects), s.metricValue(t, overflows)
	// Post until the server gives up on Bob: the kernel's socket buffers
	// absorb some first. Meanwhile the fast reader keeps up throughout.
	body := strings.Repeat("z", 4000)
	var total int64
	for s.metricValue(t, overflows) == over0 {
		if total >= 4000 {
			t.Fatalf("bob not cut off after %d messages", total)
		}
		for i := 0; i < 100; i++ {
			total++
			if r := ann.call(t, "POST", fmt.Sprintf("/api/rooms/%d/messages", room), map[string]string{"body": body, "cid": fmt.Sprint(total)}); r.status != 201 {
				t.Fatalf("post: %d", r.status)
			}
			if e := fast.next(t, "message"); e.Seq != total {
				t.Fatalf("fast reader got %d, want %d", e.Seq, total)
			}
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.metricValue(t, disconnects) == cut0 {
		if time.Now().After(deadline) {
			t.Fatal("the overflowed connection was not closed with 4408")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := s.metricValue(t, overflows) - over0; got != 1 {
		t.Fatalf("%v overflows counted, want 1", got)
	}
	if total == 0 {
		t.Fatal("bob was cut off before any message")
	}
	t.Logf("bob cut off within %d messages", total)

	// Resume from the start: every message exactly once, in order.
	wb := bob.dial(t)
	defer wb.close()
	wb.subscribe(t, room, ptr(int64(0)))
	for want := int64(1); want <= total; want++ {
		if e := wb.next(t, "message"); e.Seq != want {
			t.Fatalf("resumed bob got %d, want %d", e.Seq, want)
		}
	}
}

// TestCompression: permessage-deflate is negotiated when offered; big
// events arrive intact either way.
func TestCompression(t *testing.T) {
	s := startServer(t, "compression on\ncompress_min 256")
	ann := s.register(t, "Ann")
	room := ann.createRoom(t, "deflate", false)
	d := websocket.Dialer{EnableCompression: true}
	w, err := ann.dialWith(&d, http.Header{"Authorization": {"Bearer " + ann.token}}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	if ext := w.conn.Response().Header.Get("Sec-WebSocket-Extensions"); !strings.Contains(ext, "permessage-deflate") {
		t.Fatalf("extensions %q", ext)
	}
	plain := ann.dial(t)
	defer plain.close()
	w.subscribe(t, room, nil)
	plain.subscribe(t, room, nil)
	big := strings.Repeat("compress me ", 300)
	for i, body := range []string{"small", big, big + "!"} {
		w.send(t, map[string]any{"type": "send", "room": room, "body": body, "cid": fmt.Sprint(i)})
		for _, c := range []*wsClient{w, plain} {
			if e := c.next(t, "message"); e.Body != body {
				t.Fatalf("body mismatch (%d bytes vs %d)", len(e.Body), len(body))
			}
		}
	}
}

func TestMetricsAndHealth(t *testing.T) {
	s := startServer(t, "")
	ann := s.register(t, "Ann")
	room := ann.createRoom(t, "metrics", false)
	w := ann.dial(t)
	w.subscribe(t, room, nil)
	w.send(t, map[string]any{"type": "send", "room": room, "body": "count me", "cid": "m"})
	w.next(t, "message")
	r := s.call(t, "GET", "/metrics", "", nil)
	body := string(r.body)
	for _, name := range []string{
		"chatgate_ws_connections 1", "chatgate_ws_connects_total", "chatgate_ws_frames_in_total",
		"chatgate_ws_frames_out_total", "chatgate_messages_received_total", "chatgate_messages_stored_total",
		"chatgate_messages_delivered_total", "chatgate_delivery_latency_seconds_bucket", "chatgate_batch_size_bucket",
		"chatgate_batch_commit_seconds_bucket", "chatgate_db_query_duration_seconds_bucket", "chatgate_db_pool_acquired_conns",
		"chatgate_db_pool_wait_seconds_total", "chatgate_cache_requests_total", "process_resident_memory_bytes",
		"go_goroutines", "caddy_http_request_duration_seconds_bucket",
	} {
		if !strings.Contains(body, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	w.close()
	for _, p := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(s.base + p)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", p, err, resp)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), "status") {
			t.Fatalf("%s: %s", p, b)
		}
	}
}

// TestUserRateLimit: one user's messages are capped across all their
// connections (and REST), not per socket.
func TestUserRateLimit(t *testing.T) {
	s := startServer(t, "send_rate 1000\nsend_burst 1000\nuser_send_rate 10")
	ann := s.register(t, "Ann")
	room := ann.createRoom(t, "capped", false)
	var ws []*wsClient
	for i := 0; i < 3; i++ {
		w := ann.dial(t)
		defer w.close()
		ws = append(ws, w)
	}
	for i := 0; i < 15; i++ {
		for j, w := range ws {
			w.send(t, map[string]any{"type": "send", "room": room, "body": "x", "cid": fmt.Sprint(j, "-", i)})
		}
	}
	acks, limited := 0, 0
	for _, w := range ws {
		for n := 0; n < 15; n++ {
			e := w.next(t, "ack", "error")
			switch {
			case e.Type == "ack":
				acks++
			case e.Code == "rate_limited":
				limited++
			default:
				t.Fatalf("unexpected %+v", e)
			}
		}
	}
	if limited == 0 || acks < 10 || acks > 30 {
		t.Fatalf("acks %d, limited %d: the cap is not per user", acks, limited)
	}
	got429 := false
	for i := 0; i < 15 && !got429; i++ {
		r := ann.call(t, "POST", fmt.Sprintf("/api/rooms/%d/messages", room), map[string]string{"body": "rest", "cid": fmt.Sprint("r", i)})
		got429 = r.status == 429 && r.errCode(t) == "rate_limited"
	}
	if !got429 {
		t.Fatal("REST sends were never limited")
	}
}
