// Package socket is one client WebSocket connection: a bounded outbound
// queue, written by the goroutine that queued it when the socket takes it at
// once (inline.go) and otherwise by a writer that exists only while there is
// something to write, everything queued coalesced into one frame; and the
// read loop with its deadlines and size limits.
package socket

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/chatgate/chatgate/chatcore/wire"
)

// Config tunes connections. Zero values take the defaults.
type Config struct {
	// MaxFrame is the largest client frame handled; bigger ones are answered
	// with a too_large error and skipped (default 16 KiB).
	MaxFrame int64
	// HardMaxFrame is where the connection is closed with 1009 instead
	// (default 1 MiB): skipping a frame still costs reading it.
	HardMaxFrame int64
	// QueueFrames and QueueBytes bound the outbound queue; overflow closes
	// the connection with 4408 (defaults 1024 frames, 1 MiB).
	QueueFrames int
	QueueBytes  int
	// BatchBytes caps one coalesced frame (default 64 KiB).
	BatchBytes int
	// CompressMin is the smallest event sent compressed on connections that
	// negotiated permessage-deflate (default 512 B); smaller ones cost more
	// to deflate than they save.
	CompressMin int
	// WriteTimeout bounds each write (default 10s).
	WriteTimeout time.Duration
	// PingInterval is how often the server pings (default 25s); PongTimeout
	// how long past that a silent client is dropped (default 10s).
	PingInterval time.Duration
	PongTimeout  time.Duration
	// SendBuffer is the kernel send buffer of each connection (SO_SNDBUF,
	// default 256 KiB; negative: the kernel's autotuning, up to several
	// MiB). Bounded, a client that stops reading holds little kernel
	// memory and reaches the 4408 of QueueBytes sooner.
	SendBuffer int
}

// SetDefaults fills in zero values.
func (c *Config) SetDefaults() {
	if c.MaxFrame <= 0 {
		c.MaxFrame = 16 << 10
	}
	if c.HardMaxFrame < c.MaxFrame {
		c.HardMaxFrame = max(1<<20, c.MaxFrame)
	}
	if c.QueueFrames <= 0 {
		c.QueueFrames = 1024
	}
	if c.QueueBytes <= 0 {
		c.QueueBytes = 1 << 20
	}
	if c.BatchBytes <= 0 {
		c.BatchBytes = 64 << 10
	}
	if c.CompressMin <= 0 {
		c.CompressMin = 512
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.SendBuffer == 0 {
		c.SendBuffer = 256 << 10
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 25 * time.Second
	}
	if c.PongTimeout <= 0 {
		c.PongTimeout = 10 * time.Second
	}
}

// Observer receives per-connection measurements.
type Observer interface {
	FramesOut(frames, events int)
	FrameIn()
	Overflow()
	// Delivered reports a message event written to the socket, lag after
	// its commit.
	Delivered(lag time.Duration)
}

type nopObserver struct{}

func (nopObserver) FramesOut(int, int)      {}
func (nopObserver) FrameIn()                {}
func (nopObserver) Overflow()               {}
func (nopObserver) Delivered(time.Duration) {}

// ErrClosed is returned once the connection is closed.
var ErrClosed = errors.New("socket: connection closed")

// item is one queued outbound unit: an event frame, or a control action.
type item struct {
	frame *wire.Frame
	ping  bool
	close *closeReq
}

type closeReq struct {
	code   int
	reason string
}

// Conn is one client connection.
type Conn struct {
	ws       *websocket.Conn
	cfg      *Config
	obs      Observer
	userID   int64
	compress bool

	// raw is the socket's descriptor for the inline writes of inline.go
	// (nil when the connection is not a plain TCP socket, e.g. TLS: then
	// every write goes through gorilla on a writer goroutine).
	raw syscall.RawConn
	// frameMu is held while a frame is written outside gorilla (inline.go)
	// and by an abort's close frame, so neither lands inside the other.
	frameMu sync.Mutex

	mu          sync.Mutex
	queue       []item
	queuedBytes int
	writing     bool
	closed      bool
	space       chan struct{} // signalled when the queue drains, for WaitRoom

	// The inbound side: frames read but not yet handled.
	handle     func([]byte, error)
	inbox      []inFrame
	handling   bool
	inboxSpace chan struct{}

	// writers counts the goroutines that may write to the socket or act on
	// its frames (the writer, or a Deferred holding its role; the handler;
	// an abort's close frame), so Wait can outlast them.
	writers   sync.WaitGroup
	closing   sync.WaitGroup // an abort's close frame being written
	done      chan struct{}
	closeOnce sync.Once
	closeCode atomic.Int32
	// expires is when the connection's credentials end (unix seconds, 0:
	// never); the registry's heartbeat closes it then with expiredCode.
	expires       atomic.Int64
	expiredCode   int
	expiredReason string
}

// New wraps an upgraded gorilla connection. compress reports whether the
// client negotiated permessage-deflate.
func New(ws *websocket.Conn, cfg *Config, obs Observer, userID int64, compress bool) *Conn {
	if obs == nil {
		obs = nopObserver{}
	}
	c := &Conn{ws: ws, cfg: cfg, obs: obs, userID: userID, compress: compress, done: make(chan struct{})}
	// Control frames and small batches go uncompressed; big events use a
	// shared PreparedMessage that carries its own compression.
	ws.EnableWriteCompression(false)
	if tc, ok := ws.NetConn().(*net.TCPConn); ok {
		if cfg.SendBuffer > 0 {
			_ = tc.SetWriteBuffer(cfg.SendBuffer)
		}
		c.raw, _ = tc.SyscallConn()
	}
	return c
}

// UserID is the authenticated user.
func (c *Conn) UserID() int64 { return c.userID }

// Done is closed when the connection is closed.
func (c *Conn) Done() <-chan struct{} { return c.done }

// CloseCode is the close code the server sent, 0 if none yet.
func (c *Conn) CloseCode() int { return int(c.closeCode.Load()) }

// RemoteAddr is the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.ws.RemoteAddr() }

// Enqueue queues an event frame without blocking. On overflow the
// connection is closed with 4408 and false returned.
func (c *Conn) Enqueue(f *wire.Frame) bool {
	return c.push(item{frame: f}, len(f.Data))
}

// Send queues a one-off event (acks, errors, pongs). It starts a writer
// rather than writing inline: an ack is sent from the batcher's done
// callback, before the commit callback delivers the message to the hub, and
// written inline it would reach the sender before a subscribe anywhere
// counts the message in its last_seq.
func (c *Conn) Send(v any) bool {
	return c.Enqueue(wire.NewFrame(0, wire.Encode(v)))
}

// Ping queues a WebSocket ping; the heartbeat calls it for every connection.
func (c *Conn) Ping() { c.push(item{ping: true}, 0) }

// SetExpiry makes the heartbeat close the connection with code and reason
// once at is past: a token checked at the upgrade must not outlive itself
// on a connection that stays open. Call it before the connection is added
// to a Registry.
func (c *Conn) SetExpiry(at time.Time, code int, reason string) {
	c.expiredCode, c.expiredReason = code, reason
	c.expires.Store(at.Unix())
}

// expired reports whether the connection's credentials have ended.
func (c *Conn) expired(now time.Time) bool {
	exp := c.expires.Load()
	return exp != 0 && now.Unix() >= exp
}

func (c *Conn) push(it item, size int) bool {
	return c.pushTo(it, size, nil)
}

// startWriter starts the writer unless one runs. Caller holds c.mu and has
// checked !c.closed, so no writer is added after Wait may have begun.
func (c *Conn) startWriter() {
	if !c.writing {
		c.writing = true
		c.writers.Add(1)
		go c.writeLoop()
	}
}

// Wait blocks until the connection is closed and no goroutine writes to it
// or handles its frames any more, so cleanup after it sees the final state.
func (c *Conn) Wait() {
	<-c.done
	c.writers.Wait()
}

// Fits reports whether frames more frames of n bytes would leave the
// queue at most half full.
func (c *Conn) Fits(frames, n int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)+frames <= c.cfg.QueueFrames/2 && c.queuedBytes+n <= c.cfg.QueueBytes/2
}

// WaitRoom blocks until the queue is at most half full.
func (c *Conn) WaitRoom(ctx context.Context) error {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return ErrClosed
		}
		if len(c.queue) <= c.cfg.QueueFrames/2 && c.queuedBytes <= c.cfg.QueueBytes/2 {
			c.mu.Unlock()
			return nil
		}
		if c.space == nil {
			c.space = make(chan struct{})
		}
		ch := c.space
		c.mu.Unlock()
		select {
		case <-ch:
		case <-c.done:
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// CloseWith queues a close frame behind what is already queued (a graceful
// close: the client receives everything first), then closes.
func (c *Conn) CloseWith(code int, reason string) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.queue = append(c.queue, item{close: &closeReq{code: code, reason: reason}})
	c.startWriter()
	c.mu.Unlock()
}

// Abort closes the connection at once, skipping the queue. It never blocks:
// it is called from the hub's fan-out, where a stalled socket must not hold
// up the room, so the close frame is written from its own goroutine.
func (c *Conn) Abort(code int, reason string) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.queue = nil
	c.queuedBytes = 0
	c.writers.Add(1)
	c.closing.Add(1)
	c.mu.Unlock()
	c.closeCode.CompareAndSwap(0, int32(code))
	go func() {
		defer c.writers.Done()
		// The writer may be blocked on a full socket (a client that stopped
		// reading): the close frame goes out after its current frame, so
		// wait as long as a write may take. A client that resumes reading
		// in that time gets what was sent, then the close code; one that
		// does not is cut off when the write times out.
		c.frameMu.Lock() // after a frame an inline write began (inline.go)
		_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(c.cfg.WriteTimeout))
		c.frameMu.Unlock()
		c.closing.Done()
		c.shutdown()
	}()
}

func (c *Conn) shutdown() {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.queue = nil
		c.queuedBytes = 0
		if c.space != nil {
			close(c.space)
			c.space = nil
		}
		c.mu.Unlock()
		close(c.done)
		c.lingerClose()
	})
}

// lingerClose closes the socket, first letting a close frame we sent reach
// the client: closing a socket with unread input makes the kernel send a
// reset, and a client that was still sending (a flood, a burst) would lose
// the close frame, and with it the reason, to "connection reset". So after
// our close frame: FIN, discard what the client still sends until it closes
// or a second passes, then close.
func (c *Conn) lingerClose() {
	c.closing.Wait() // an abort's close frame goes out before the FIN
	nc := c.ws.UnderlyingConn()
	if hc, ok := nc.(interface{ CloseWrite() error }); ok && c.closeCode.Load() != 0 {
		if hc.CloseWrite() == nil {
			_ = nc.SetReadDeadline(time.Now().Add(time.Second))
			_, _ = io.Copy(io.Discard, nc)
		}
	}
	_ = c.ws.Close()
}

var batchPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// writeLoop runs while the queue is non-empty. It takes everything queued
// at once and writes it as few frames as it can: consecutive events become
// one JSON array frame, so a burst costs one write(2) rather than one each.
func (c *Conn) writeLoop() {
	defer c.writers.Done()
	var batch []item
	for {
		c.mu.Lock()
		if len(c.queue) == 0 || c.closed {
			c.writing = false
			c.mu.Unlock()
			return
		}
		batch, c.queue = c.queue, batch[:0]
		c.queuedBytes = 0
		if c.space != nil {
			close(c.space)
			c.space = nil
		}
		c.mu.Unlock()

		if err := c.writeItems(batch); err != nil {
			c.shutdown()
			c.mu.Lock()
			c.writing = false
			c.mu.Unlock()
			return
		}
		clear(batch)
	}
}

func (c *Conn) writeItems(items []item) error {
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.cfg.WriteTimeout))
	var run []*wire.Frame
	runBytes := 0
	flush := func() error {
		if len(run) == 0 {
			return nil
		}
		err := c.writeRun(run)
		c.obs.FramesOut(1, len(run))
		c.observeDelivered(run...)
		clear(run)
		run, runBytes = run[:0], 0
		return err
	}
	for _, it := range items {
		switch {
		case it.frame != nil:
			f := it.frame
			if c.compress && len(f.Data) >= c.cfg.CompressMin {
				if err := flush(); err != nil {
					return err
				}
				if err := c.ws.WritePreparedMessage(f.Prepared()); err != nil {
					return err
				}
				c.obs.FramesOut(1, 1)
				c.observeDelivered(f)
				continue
			}
			if runBytes+len(f.Data) > c.cfg.BatchBytes {
				if err := flush(); err != nil {
					return err
				}
			}
			run = append(run, f)
			runBytes += len(f.Data) + 1
		case it.ping:
			if err := flush(); err != nil {
				return err
			}
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.cfg.WriteTimeout)); err != nil {
				return err
			}
		case it.close != nil:
			if err := flush(); err != nil {
				return err
			}
			c.closeCode.CompareAndSwap(0, int32(it.close.code))
			_ = c.ws.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(it.close.code, it.close.reason), time.Now().Add(c.cfg.WriteTimeout))
			return ErrClosed
		}
	}
	return flush()
}

func (c *Conn) writeRun(run []*wire.Frame) error {
	w, err := c.ws.NextWriter(websocket.TextMessage)
	if err != nil {
		return err
	}
	if len(run) == 1 {
		_, err = w.Write(run[0].Data)
	} else {
		buf := batchPool.Get().(*bytes.Buffer)
		buf.Reset()
		appendArray(buf, run)
		_, err = w.Write(buf.Bytes())
		if buf.Cap() <= 256<<10 {
			batchPool.Put(buf)
		}
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return err
}

// ErrFrameTooLarge is passed to the handler for a frame over MaxFrame; the
// frame's bytes were discarded.
var ErrFrameTooLarge = errors.New("socket: frame too large")

// errBinary is passed to the handler for a binary frame.
var errBinary = errors.New("socket: binary frames are not supported")

// inboxLimit is how many read frames may wait for the handler before the
// read loop stops reading: a flood then backs up into TCP, not memory.
const inboxLimit = 64

type inFrame struct {
	buf *bytes.Buffer
	err error
}

var readPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// ReadLoop reads client frames until the connection closes and hands each
// text frame to handle (data is only valid during the call), or
// ErrFrameTooLarge for an oversize one. handle runs, in order, on a handler
// goroutine that holds the connection only while frames wait (runHandler):
// handling may query the database and grow its stack, while the read loop,
// which every idle connection parks in, stays shallow. It returns the read
// error.
func (c *Conn) ReadLoop(handle func(data []byte, err error)) error {
	defer c.shutdown()
	deadline := c.cfg.PingInterval + c.cfg.PongTimeout
	c.ws.SetReadLimit(c.cfg.HardMaxFrame)
	_ = c.ws.SetReadDeadline(time.Now().Add(deadline))
	c.ws.SetPongHandler(func(string) error {
		return c.ws.SetReadDeadline(time.Now().Add(deadline))
	})
	c.handle = handle
	for {
		typ, r, err := c.ws.NextReader()
		if err != nil {
			return err
		}
		_ = c.ws.SetReadDeadline(time.Now().Add(deadline))
		c.obs.FrameIn()
		var f inFrame
		switch {
		case typ != websocket.TextMessage:
			f.err = errBinary
			if _, err := io.Copy(io.Discard, r); err != nil {
				return err
			}
		default:
			buf := readPool.Get().(*bytes.Buffer)
			buf.Reset()
			n, err := io.Copy(buf, io.LimitReader(r, c.cfg.MaxFrame+1))
			if err != nil {
				readPool.Put(buf)
				return err
			}
			if n > c.cfg.MaxFrame {
				readPool.Put(buf)
				if _, err := io.Copy(io.Discard, r); err != nil {
					return err
				}
				f.err = ErrFrameTooLarge
			} else {
				f.buf = buf
			}
		}
		if !c.deliverIn(f) {
			return ErrClosed
		}
	}
}

// deliverIn queues a read frame for the handler goroutine, starting it if
// needed, and blocks while the inbox is full.
func (c *Conn) deliverIn(f inFrame) bool {
	c.mu.Lock()
	for len(c.inbox) >= inboxLimit && !c.closed {
		if c.inboxSpace == nil {
			c.inboxSpace = make(chan struct{})
		}
		ch := c.inboxSpace
		c.mu.Unlock()
		select {
		case <-ch:
		case <-c.done:
		}
		c.mu.Lock()
	}
	if c.closed {
		c.mu.Unlock()
		return false
	}
	c.inbox = append(c.inbox, f)
	if !c.handling {
		c.handling = true
		c.writers.Add(1)
		startHandling(c)
	}
	c.mu.Unlock()
	return true
}

// handoff passes a connection with frames waiting to a handler goroutine
// that is idle (see runHandler).
var handoff = make(chan *Conn)

// handlerIdle is how long a handler goroutine waits for another
// connection's frames before it exits.
const handlerIdle = time.Second

// startHandling runs c's handleLoop on an idle handler goroutine, or on a
// new one when none is waiting.
func startHandling(c *Conn) {
	select {
	case handoff <- c:
	default:
		go runHandler(c)
	}
}

// runHandler handles c's frames, then, for up to handlerIdle at a time,
// other connections'. A busy server's frames are thus handled on stacks the
// JSON decoder and the handlers have already grown, not on a new goroutine
// per frame that grows its stack anew each time (5.5% of the gateway's CPU
// at 1,000 sends/s, BENCHMARKS.md "Where the time goes"), while an idle
// connection still holds no handler at all.
func runHandler(c *Conn) {
	t := time.NewTimer(handlerIdle)
	defer t.Stop()
	for {
		c.handleLoop()
		t.Reset(handlerIdle)
		select {
		case c = <-handoff:
		case <-t.C:
			return
		}
	}
}

func (c *Conn) handleLoop() {
	defer c.writers.Done()
	var frames []inFrame
	for {
		c.mu.Lock()
		if len(c.inbox) == 0 {
			c.handling = false
			c.mu.Unlock()
			return
		}
		frames, c.inbox = c.inbox, frames[:0]
		if c.inboxSpace != nil {
			close(c.inboxSpace)
			c.inboxSpace = nil
		}
		c.mu.Unlock()
		for i, f := range frames {
			if f.buf != nil {
				c.handle(f.buf.Bytes(), nil)
				if f.buf.Cap() <= 64<<10 {
					readPool.Put(f.buf)
				}
			} else {
				c.handle(nil, f.err)
			}
			frames[i] = inFrame{}
		}
	}
}

func (c *Conn) observeDelivered(frames ...*wire.Frame) {
	var now time.Time
	for _, f := range frames {
		if f.Committed.IsZero() {
			continue
		}
		if now.IsZero() {
			now = time.Now()
		}
		c.obs.Delivered(now.Sub(f.Committed))
	}
}
