package socket

import (
	"bytes"
	"errors"
	"syscall"
	"time"

	"github.com/chatgate/chatgate/chatcore/wire"
)

// Writing on the caller's goroutine.
//
// A delivery used to start a writer goroutine on every idle connection it
// reached: ten members, ten goroutines, and on a multi-core machine each
// start wakes a sleeping thread (a futex call) that then looks for work.
// Profiled at 1,000 messages/s into rooms of 10 that scheduling was a fifth
// of the gateway's CPU, more than the JSON, the checks and pgx together. The
// frames themselves are small and the kernel takes them at once, so the
// goroutine that has them (the batcher's flusher, the bus reader) now
// writes them itself: one non-blocking write(2) per
// connection, no goroutine, no wake-up. Only what the socket does not take
// at once (a full send buffer: a slow client) goes to a writer goroutine,
// which finishes the frame and carries on as before, with its deadline.
//
// Nothing here blocks: a connection whose frame mutex is busy (its abort's
// close frame is being written), whose queue holds anything but plain
// uncompressed events (pings, closes, compressed frames), or whose socket
// has no raw descriptor, gets the writer goroutine instead.

// Deferred collects connections whose writes were queued with
// EnqueueDeferred, so the caller can write them after it released its locks
// (the hub queues under a shard lock; a write(2) has no business there).
// The zero value is ready; Flush empties it for reuse. It is not safe for
// concurrent use: one per goroutine.
type Deferred struct {
	conns []*Conn
	items []item        // scratch: one connection's queue while it is written
	buf   bytes.Buffer  // scratch: that queue framed
	run   []*wire.Frame // scratch: the events of one frame
}

// EnqueueDeferred queues f like Enqueue, but when no writer runs it leaves
// the write to d.Flush instead of starting one. The caller must call
// d.Flush soon (after releasing its locks); until then the connection
// counts as being written.
func (c *Conn) EnqueueDeferred(f *wire.Frame, d *Deferred) bool {
	return c.pushTo(item{frame: f}, len(f.Data), d)
}

// Flush writes every collected connection's queue, each with at most one
// non-blocking write(2), and hands what is left to writer goroutines.
func (d *Deferred) Flush() {
	for i, c := range d.conns {
		c.writeInline(d)
		d.conns[i] = nil
	}
	d.conns = d.conns[:0]
}

// pushTo is push with the writer's start deferred to d (nil: start it now,
// as push does).
func (c *Conn) pushTo(it item, size int, d *Deferred) bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	if len(c.queue) >= c.cfg.QueueFrames || c.queuedBytes+size > c.cfg.QueueBytes {
		c.mu.Unlock()
		c.obs.Overflow()
		c.Abort(wire.CloseTooSlow, "too slow to keep up: resume with since")
		return false
	}
	c.queue = append(c.queue, it)
	c.queuedBytes += size
	switch {
	case c.writing:
	case d == nil:
		c.startWriter()
	default:
		// The Deferred owns the writer's role until its Flush.
		c.writing = true
		c.writers.Add(1)
		d.conns = append(d.conns, c)
	}
	c.mu.Unlock()
	return true
}

// writeInline is a writer's turn taken by a Deferred: it owns c.writing and
// one c.writers count, and passes both on (to a writer goroutine) or gives
// them back.
func (c *Conn) writeInline(d *Deferred) {
	c.mu.Lock()
	if len(c.queue) == 0 || c.closed {
		c.release()
		return
	}
	if !c.inlineable() || !c.frameMu.TryLock() {
		c.mu.Unlock()
		go c.writeLoop()
		return
	}
	d.items = append(d.items[:0], c.queue...)
	clear(c.queue)
	c.queue = c.queue[:0]
	c.queuedBytes = 0
	if c.space != nil {
		close(c.space)
		c.space = nil
	}
	c.mu.Unlock()

	d.buf.Reset()
	c.frameItems(d)
	clear(d.items)
	n, err := c.tryWrite(d.buf.Bytes())
	switch {
	case err == nil && n == d.buf.Len():
		c.frameMu.Unlock()
		c.mu.Lock()
		if len(c.queue) == 0 || c.closed {
			c.release()
			return
		}
		c.mu.Unlock()
		go c.writeLoop() // more arrived meanwhile
	case err == nil || errors.Is(err, errWouldBlock):
		// The kernel took part or nothing: the rest goes out blocking,
		// with the write deadline, on a writer goroutine that then
		// carries on with the queue. frameMu stays held until the frame
		// is whole, so an abort's close frame cannot land inside it.
		rest := bytes.Clone(d.buf.Bytes()[n:])
		go c.writeRest(rest)
	default:
		c.frameMu.Unlock()
		c.shutdown()
		c.mu.Lock()
		c.release()
	}
}

// release gives the writer's role back. Caller holds c.mu; it is unlocked.
func (c *Conn) release() {
	c.writing = false
	c.mu.Unlock()
	c.writers.Done()
}

// inlineable reports whether every queued item can be framed here: plain
// events that go out uncompressed. Caller holds c.mu.
func (c *Conn) inlineable() bool {
	if c.raw == nil {
		return false
	}
	for _, it := range c.queue {
		if it.frame == nil || (c.compress && len(it.frame.Data) >= c.cfg.CompressMin) {
			return false
		}
	}
	return true
}

// frameItems encodes d.items into d.buf as WebSocket text frames, the way
// writeItems does: consecutive events become one JSON array, at most
// BatchBytes each.
func (c *Conn) frameItems(d *Deferred) {
	runBytes := 0
	flush := func() {
		if len(d.run) == 0 {
			return
		}
		appendFrame(&d.buf, d.run)
		c.obs.FramesOut(1, len(d.run))
		c.observeDelivered(d.run...)
		clear(d.run)
		d.run, runBytes = d.run[:0], 0
	}
	for _, it := range d.items {
		f := it.frame
		if runBytes+len(f.Data) > c.cfg.BatchBytes {
			flush()
		}
		d.run = append(d.run, f)
		runBytes += len(f.Data) + 1
	}
	flush()
}

// appendFrame appends one unmasked FIN text frame holding run (one event,
// or a JSON array of them) to buf.
func appendFrame(buf *bytes.Buffer, run []*wire.Frame) {
	n := len(run[0].Data)
	if len(run) > 1 {
		n = 1 // '['
		for _, f := range run {
			n += len(f.Data) + 1 // ',' or ']'
		}
	}
	buf.WriteByte(0x81) // FIN, text
	switch {
	case n < 126:
		buf.WriteByte(byte(n))
	case n <= 0xffff:
		buf.Write([]byte{126, byte(n >> 8), byte(n)})
	default:
		buf.WriteByte(127)
		for s := 56; s >= 0; s -= 8 {
			buf.WriteByte(byte(uint64(n) >> s))
		}
	}
	if len(run) == 1 {
		buf.Write(run[0].Data)
		return
	}
	appendArray(buf, run)
}

// appendArray appends the events of run as one JSON array.
func appendArray(buf *bytes.Buffer, run []*wire.Frame) {
	buf.WriteByte('[')
	for i, f := range run {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(f.Data)
	}
	buf.WriteByte(']')
}

// errWouldBlock is tryWrite's EAGAIN: the socket's send buffer is full.
var errWouldBlock = errors.New("socket: write would block")

// tryWrite makes one write(2) attempt on the socket without waiting for it
// to become writable. A socket whose write deadline has passed (the last
// writer's, long ago) refuses before trying: the deadline is cleared (only
// a blocking write needs one, and every writer run sets its own) and the
// attempt made again.
func (c *Conn) tryWrite(b []byte) (int, error) {
	var n int
	var werr error
	for tries := 0; ; tries++ {
		called := false
		err := c.raw.Write(func(fd uintptr) bool {
			called = true
			for {
				n, werr = syscall.Write(int(fd), b)
				if werr != syscall.EINTR {
					break
				}
			}
			return true
		})
		switch {
		case called && werr == syscall.EAGAIN:
			return 0, errWouldBlock
		case called:
			if n < 0 {
				n = 0
			}
			return n, werr
		case tries == 0 && err != nil:
			_ = c.ws.NetConn().SetWriteDeadline(time.Time{})
		default:
			return 0, err
		}
	}
}

// writeRest finishes a frame tryWrite began, blocking with the write
// deadline, then carries on as the writer. It holds frameMu, c.writing and
// one c.writers count.
func (c *Conn) writeRest(rest []byte) {
	nc := c.ws.NetConn()
	_ = nc.SetWriteDeadline(time.Now().Add(c.cfg.WriteTimeout))
	_, err := nc.Write(rest)
	c.frameMu.Unlock()
	if err != nil {
		c.shutdown()
		c.mu.Lock()
		c.release()
		return
	}
	c.writeLoop()
}
