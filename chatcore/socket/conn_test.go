package socket

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/chatgate/chatgate/chatcore/wire"
)

// A client that stops reading: once the queue is full the next Enqueue
// returns false at once (it never waits on the socket), the connection is
// closed with 4408, and a client that reads again gets what was being
// written, then the 4408.
func TestOverflowCloses4408WithoutBlocking(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		size int
	}{
		{"frames", Config{QueueFrames: 4}, 8},
		{"bytes", Config{QueueBytes: 64}, 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, tc.cfg, false)
			body := func(i int) string { return fmt.Sprintf(`{"n":%0*d}`, tc.size-6, i) }
			if !p.srv.Enqueue(frame(body(0))) {
				t.Fatal("first Enqueue refused")
			}
			p.writerTook(t) // and blocks: the client does not read
			queued := 0
			start := time.Now()
			for i := 1; ; i++ {
				if !p.srv.Enqueue(frame(body(i))) {
					break
				}
				queued++
				if queued > 100 {
					t.Fatal("the queue never overflowed")
				}
			}
			if d := time.Since(start); d > 100*time.Millisecond {
				t.Fatalf("Enqueue blocked for %v on a stalled socket", d)
			}
			if want := 4; queued != want {
				t.Fatalf("queued %d behind the stalled write, want %d", queued, want)
			}
			if p.srv.Enqueue(frame(body(99))) || p.srv.Send(map[string]int{"n": 1}) {
				t.Fatal("Enqueue after the overflow accepted")
			}
			if n := p.obs.overflows.Load(); n != 1 {
				t.Fatalf("%d overflows observed, want 1", n)
			}
			if code := p.srv.CloseCode(); code != wire.CloseTooSlow {
				t.Fatalf("CloseCode %d, want 4408", code)
			}
			// The client reads again: the frame that was being written, then
			// the close frame; nothing that was queued behind it.
			if got := p.read(t); got != body(0) {
				t.Fatalf("first frame %q", got)
			}
			if ce := p.closeErr(t); ce.Code != wire.CloseTooSlow || !strings.Contains(ce.Text, "since") {
				t.Fatalf("close %d %q, want 4408 with a hint to resume", ce.Code, ce.Text)
			}
			select {
			case <-p.srv.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("Done not closed after the 4408")
			}
		})
	}
}

// Events queued while the writer is busy go out together as one JSON array
// frame, split where BatchBytes would be exceeded.
func TestCoalescing(t *testing.T) {
	p := newPair(t, Config{}, false)
	p.srv.Enqueue(frame(`{"n":0}`))
	p.writerTook(t)
	for i := 1; i <= 3; i++ {
		p.srv.Enqueue(frame(fmt.Sprintf(`{"n":%d}`, i)))
	}
	if got := p.read(t); got != `{"n":0}` {
		t.Fatalf("first frame %q", got)
	}
	if got := p.read(t); got != `[{"n":1},{"n":2},{"n":3}]` {
		t.Fatalf("coalesced frame %q, want one array of the three", got)
	}
	eventually(t, "frames observed", func() bool { return p.obs.frames.Load() == 2 })
	if e := p.obs.events.Load(); e != 4 {
		t.Fatalf("observed %d events in 2 frames, want 4", e)
	}

	// BatchBytes 20: two 7-byte events fit a frame (with their commas),
	// a third starts the next.
	p = newPair(t, Config{BatchBytes: 20}, false)
	p.srv.Enqueue(frame(`{"n":0}`))
	p.writerTook(t)
	for i := 1; i <= 5; i++ {
		p.srv.Enqueue(frame(fmt.Sprintf(`{"n":%d}`, i)))
	}
	var got []string
	for range 4 {
		got = append(got, p.read(t))
	}
	want := []string{`{"n":0}`, `[{"n":1},{"n":2}]`, `[{"n":3},{"n":4}]`, `{"n":5}`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("frames %q, want %q", got, want)
	}
}

// The writer goroutine exists only while something is queued or being
// written, and never more than one per connection; the same for the
// goroutine that hands read frames to the handler.
func TestGoroutinesOnlyWhileBusy(t *testing.T) {
	// The counts are of the whole process: earlier tests' connections may
	// still be winding down their writers (CI saw one), so start from none.
	eventually(t, "earlier tests' writers exit", func() bool { return goroutines("(*Conn).writeLoop") == 0 })
	p := newPair(t, Config{}, false)
	handled := make(chan string, 100)
	go p.srv.ReadLoop(func(b []byte, err error) { handled <- string(b) })
	if n := goroutines("(*Conn).writeLoop"); n != 0 {
		t.Fatalf("%d writers on an idle connection", n)
	}
	p.srv.Enqueue(frame(`{"n":0}`))
	p.writerTook(t)
	for i := 1; i <= 50; i++ {
		p.srv.Enqueue(frame(fmt.Sprintf(`{"n":%d}`, i)))
	}
	if n := goroutines("(*Conn).writeLoop"); n != 1 {
		t.Fatalf("%d writers while one write is stalled, want 1", n)
	}
	p.read(t)
	p.read(t)
	eventually(t, "the writer exits once the queue is empty", func() bool {
		p.srv.mu.Lock()
		defer p.srv.mu.Unlock()
		return !p.srv.writing
	})
	if n := goroutines("(*Conn).writeLoop"); n != 0 {
		t.Fatalf("%d writers after the queue drained", n)
	}

	// Inbound: the handler goroutine comes and goes with the frames.
	for i := 0; i < 5; i++ {
		if err := p.client.WriteMessage(websocket.TextMessage, []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 5; i++ {
		if got := <-handled; got != fmt.Sprint(i) {
			t.Fatalf("handled %q, want %d (in order)", got, i)
		}
	}
	eventually(t, "the handler goroutine exits", func() bool { return goroutines("(*Conn).handleLoop") == 0 })
}

// Abort never blocks, even with the writer stuck on a stalled socket, and
// its code and reason reach the peer; CloseWith sends what was queued
// first.
func TestCloseCodes(t *testing.T) {
	t.Run("Abort", func(t *testing.T) {
		p := newPair(t, Config{}, false)
		p.srv.Enqueue(frame(`{"n":0}`))
		p.writerTook(t)
		p.srv.Enqueue(frame(`{"n":1}`))
		start := time.Now()
		p.srv.Abort(4001, "bye now")
		if d := time.Since(start); d > 50*time.Millisecond {
			t.Fatalf("Abort took %v with the writer stalled", d)
		}
		if p.srv.CloseCode() != 4001 {
			t.Fatalf("CloseCode %d", p.srv.CloseCode())
		}
		if got := p.read(t); got != `{"n":0}` {
			t.Fatalf("got %q: the frame being written", got)
		}
		if ce := p.closeErr(t); ce.Code != 4001 || ce.Text != "bye now" {
			t.Fatalf("close %d %q, want 4001 \"bye now\" (the queued frame skipped)", ce.Code, ce.Text)
		}
		p.srv.Abort(4002, "again") // a second close changes nothing
		if p.srv.CloseCode() != 4001 {
			t.Fatalf("CloseCode %d after a second Abort", p.srv.CloseCode())
		}
	})
	t.Run("CloseWith", func(t *testing.T) {
		p := newPair(t, Config{}, false)
		p.srv.Enqueue(frame(`{"n":0}`))
		p.writerTook(t)
		p.srv.Enqueue(frame(`{"n":1}`))
		p.srv.CloseWith(websocket.CloseGoingAway, "drain")
		if got := p.read(t); got != `{"n":0}` {
			t.Fatalf("got %q", got)
		}
		if got := p.read(t); got != `{"n":1}` {
			t.Fatalf("got %q: what was queued before the close", got)
		}
		if ce := p.closeErr(t); ce.Code != websocket.CloseGoingAway || ce.Text != "drain" {
			t.Fatalf("close %d %q", ce.Code, ce.Text)
		}
		select {
		case <-p.srv.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("Done not closed")
		}
		if p.srv.Enqueue(frame(`{}`)) {
			t.Fatal("Enqueue after the close accepted")
		}
	})
}

// A client that answers pings stays connected past PingInterval +
// PongTimeout; one that does not is dropped after about that long.
func TestPingPongTimeout(t *testing.T) {
	cfg := Config{PingInterval: 300 * time.Millisecond, PongTimeout: 300 * time.Millisecond}

	alive := newPair(t, cfg, true)
	go func() { // reading makes gorilla answer pings with pongs
		for {
			if _, _, err := alive.client.ReadMessage(); err != nil {
				return
			}
		}
	}()
	r := NewRegistry()
	r.Add(alive.srv)
	ctx := t.Context()
	go r.Heartbeat(ctx, cfg.PingInterval/3)
	errc := make(chan error, 1)
	go func() { errc <- alive.srv.ReadLoop(func([]byte, error) {}) }()
	select {
	case err := <-errc:
		t.Fatalf("a client answering pings was dropped: %v", err)
	case <-time.After(3 * (cfg.PingInterval + cfg.PongTimeout)):
	}

	silent := newPair(t, cfg, true) // never reads, never pongs
	start := time.Now()
	err := silent.srv.ReadLoop(func([]byte, error) {})
	took := time.Since(start)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("silent client: ReadLoop returned %v, want a timeout", err)
	}
	if took < cfg.PingInterval+cfg.PongTimeout-10*time.Millisecond || took > 3*time.Second {
		t.Fatalf("silent client dropped after %v, want about %v", took, cfg.PingInterval+cfg.PongTimeout)
	}
	select {
	case <-silent.srv.Done():
	default:
		t.Fatal("ReadLoop returned without closing the connection")
	}
}

// Over MaxFrame: the handler gets ErrFrameTooLarge and the connection goes
// on; binary frames are refused the same way; over HardMaxFrame (1 MiB by
// default) the connection is closed with 1009.
func TestFrameSizeLimits(t *testing.T) {
	p := newPair(t, Config{MaxFrame: 1024}, false)
	type in struct {
		data string
		err  error
	}
	handled := make(chan in, 10)
	go p.srv.ReadLoop(func(b []byte, err error) { handled <- in{string(b), err} })
	send := func(typ int, b []byte) {
		t.Helper()
		if err := p.client.WriteMessage(typ, b); err != nil {
			t.Fatal(err)
		}
	}
	next := func() in {
		t.Helper()
		select {
		case h := <-handled:
			return h
		case <-time.After(5 * time.Second):
			t.Fatal("nothing handled")
			return in{}
		}
	}
	send(websocket.TextMessage, []byte(strings.Repeat("x", 1024)))
	if h := next(); h.err != nil || len(h.data) != 1024 {
		t.Fatalf("a frame of exactly MaxFrame: %d bytes, %v", len(h.data), h.err)
	}
	send(websocket.TextMessage, []byte(strings.Repeat("x", 1025)))
	if h := next(); !errors.Is(h.err, ErrFrameTooLarge) || h.data != "" {
		t.Fatalf("over MaxFrame: %q %v, want ErrFrameTooLarge", h.data, h.err)
	}
	send(websocket.BinaryMessage, []byte{1, 2, 3})
	if h := next(); !errors.Is(h.err, errBinary) {
		t.Fatalf("binary frame: %v", h.err)
	}
	send(websocket.TextMessage, []byte("still here"))
	if h := next(); h.err != nil || h.data != "still here" {
		t.Fatalf("after the refused frames: %q %v", h.data, h.err)
	}

	hard := newPair(t, Config{}, true)
	errc := make(chan error, 1)
	go func() { errc <- hard.srv.ReadLoop(func([]byte, error) {}) }()
	_ = hard.client.WriteMessage(websocket.TextMessage, make([]byte, 1<<20+1)) // the server may close mid-write
	if ce := hard.closeErr(t); ce.Code != websocket.CloseMessageTooBig {
		t.Fatalf("over 1 MiB: close %d, want 1009", ce.Code)
	}
	if err := <-errc; !errors.Is(err, websocket.ErrReadLimit) {
		t.Fatalf("ReadLoop returned %v, want ErrReadLimit", err)
	}
}

// WaitRoom waits while the queue is over half full and returns once the
// writer has taken it; Fits answers the same question without waiting.
func TestWaitRoom(t *testing.T) {
	p := newPair(t, Config{QueueFrames: 8}, false)
	p.srv.Enqueue(frame(`{"n":0}`))
	p.writerTook(t)
	for i := 1; i <= 5; i++ {
		p.srv.Enqueue(frame(`{"n":1}`))
	}
	if p.srv.Fits(1, 7) {
		t.Fatal("Fits with 5 of 8 frames queued")
	}
	done := make(chan error, 1)
	go func() { done <- p.srv.WaitRoom(t.Context()) }()
	select {
	case err := <-done:
		t.Fatalf("WaitRoom returned %v with the queue over half full", err)
	case <-time.After(50 * time.Millisecond):
	}
	p.read(t) // the writer finishes frame 0 and takes the rest
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitRoom still waiting after the queue drained")
	}
	p.srv.Abort(4000, "x")
	if err := p.srv.WaitRoom(t.Context()); !errors.Is(err, ErrClosed) {
		t.Fatalf("WaitRoom on a closed connection: %v", err)
	}
}
