package socket

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// Deferred writes go out on the flushing goroutine: no writer goroutine,
// the frames of one flush as one JSON array, and the connection idle again
// right after.
func TestDeferredWritesInline(t *testing.T) {
	p := newPair(t, Config{}, true)
	if p.srv.raw == nil {
		t.Fatal("a loopback TCP connection has no raw descriptor: nothing would be written inline")
	}
	var d Deferred
	defer d.Flush() // a failed check below must not leave the writer's role taken
	for i := range 3 {
		if !p.srv.EnqueueDeferred(frame(fmt.Sprintf(`{"n":%d}`, i)), &d) {
			t.Fatal("EnqueueDeferred refused")
		}
	}
	// The Deferred holds the writer's role: no writer goroutine was
	// started (one would have taken the queue).
	if len(d.conns) != 1 {
		t.Fatalf("Deferred holds %d connections, want 1 (one turn per connection)", len(d.conns))
	}
	p.srv.mu.Lock()
	queued := len(p.srv.queue)
	p.srv.mu.Unlock()
	if queued != 3 {
		t.Fatalf("%d frames queued before Flush, want 3 (a writer took them?)", queued)
	}
	d.Flush()
	p.srv.mu.Lock()
	writing := p.srv.writing
	p.srv.mu.Unlock()
	if writing {
		t.Fatal("the writes did not complete on the flushing goroutine")
	}
	if got := p.read(t); got != `[{"n":0},{"n":1},{"n":2}]` {
		t.Fatalf("got %q", got)
	}
	if f, e := p.obs.frames.Load(), p.obs.events.Load(); f != 1 || e != 3 {
		t.Fatalf("observed %d frames, %d events; want 1, 3", f, e)
	}
}

// A client that does not read fills the socket: an inline write that the
// kernel takes only in part is finished by a writer goroutine, and the
// client, reading again, gets every frame whole and in order (a frame cut
// in two would be a protocol error on its side).
func TestInlineWriteFinishedByWriter(t *testing.T) {
	p := newPair(t, Config{SendBuffer: 4 << 10, QueueBytes: 8 << 20, QueueFrames: 1 << 16}, true)
	body := func(i int) string { return fmt.Sprintf(`{"n":%d,"pad":"%s"}`, i, strings.Repeat("x", 3000)) }
	sent, handedOff := 0, false
	for !handedOff && sent < 10000 {
		var d Deferred
		if !p.srv.EnqueueDeferred(frame(body(sent)), &d) {
			t.Fatal("EnqueueDeferred refused")
		}
		sent++
		d.Flush()
		// Still writing after Flush: the socket was full and a writer
		// goroutine holds the rest.
		p.srv.mu.Lock()
		handedOff = p.srv.writing
		p.srv.mu.Unlock()
	}
	if !handedOff {
		t.Fatalf("after %d frames the socket never filled", sent)
	}
	// More behind it: queued for that writer.
	for range 5 {
		if !p.srv.Enqueue(frame(body(sent))) {
			t.Fatal("Enqueue refused")
		}
		sent++
	}
	next := 0
	for next < sent {
		_ = p.client.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, b, err := p.client.ReadMessage()
		if err != nil {
			t.Fatalf("after %d of %d events: %v", next, sent, err)
		}
		var batch []struct{ N int }
		if b[0] == '[' {
			err = json.Unmarshal(b, &batch)
		} else {
			batch = make([]struct{ N int }, 1)
			err = json.Unmarshal(b, &batch[0])
		}
		if err != nil {
			t.Fatalf("frame %q: %v", b[:min(len(b), 40)], err)
		}
		for _, e := range batch {
			if e.N != next {
				t.Fatalf("event %d arrived where %d was due", e.N, next)
			}
			next++
		}
	}
}

// An abort while an inline write is unfinished: its close frame waits for
// the frame to be whole, so the client reads what was being written, then
// the close code, not a corrupt stream.
func TestAbortAfterPartialInlineWrite(t *testing.T) {
	p := newPair(t, Config{SendBuffer: 4 << 10, QueueBytes: 64 << 20, QueueFrames: 1 << 16}, true)
	// A fixed small receive buffer on the client (no autotuning, which
	// may grow to tcp_rmem's max), so 1 MiB cannot be taken whole while
	// the client does not read.
	if err := p.client.NetConn().(*net.TCPConn).SetReadBuffer(64 << 10); err != nil {
		t.Fatal(err)
	}
	big := `{"pad":"` + strings.Repeat("y", 1<<20) + `"}`
	var d Deferred
	if !p.srv.EnqueueDeferred(frame(big), &d) {
		t.Fatal("EnqueueDeferred refused")
	}
	d.Flush()
	// frameMu stays held until the frame is whole.
	if p.srv.frameMu.TryLock() {
		p.srv.frameMu.Unlock()
		t.Fatal("a 1 MiB frame into 4 + 64 KiB of buffers was written whole at once")
	}
	p.srv.Abort(4408, "too slow")
	_ = p.client.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, got, err := p.client.ReadMessage(); err != nil || string(got) != big {
		t.Fatalf("the frame arrived cut: %d bytes of %d (%v)", len(got), len(big), err)
	}
	ce := p.closeErr(t)
	if ce.Code != 4408 {
		t.Fatalf("close %d, want 4408", ce.Code)
	}
}
