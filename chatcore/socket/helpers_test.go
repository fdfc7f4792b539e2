package socket

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/chatgate/chatgate/chatcore/wire"
)

// These tests run a real gorilla/websocket pair without a gateway: the
// server side wrapped in a Conn, the client side a plain *websocket.Conn.
// Over net.Pipe every write blocks until the peer reads it, so "the client
// stops reading" holds the writer mid-frame, deterministically; over
// loopback TCP (httptest) the kernel buffers as in production.

// pipeListener is a net.Listener whose connections are the server ends of
// net.Pipe pairs its dial makes.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error { l.once.Do(func() { close(l.done) }); return nil }

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

func (l *pipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	server, client := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// counter is an Observer that counts.
type counter struct {
	frames, events, in, overflows atomic.Int64
}

func (o *counter) FramesOut(frames, events int) {
	o.frames.Add(int64(frames))
	o.events.Add(int64(events))
}
func (o *counter) FrameIn()                {}
func (o *counter) Overflow()               { o.overflows.Add(1) }
func (o *counter) Delivered(time.Duration) {}

// pair is a server Conn and the client connected to it.
type pair struct {
	srv    *Conn
	client *websocket.Conn
	obs    *counter
}

// newPair connects a client to a fresh Conn, over net.Pipe, or over
// loopback TCP when tcp is set.
func newPair(t *testing.T, cfg Config, tcp bool) *pair {
	t.Helper()
	cfg.SetDefaults()
	obs := &counter{}
	conns := make(chan *Conn, 1)
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			t.Errorf("upgrade: %v", err)
			return
		}
		conns <- New(ws, &cfg, obs, 1, false)
	})
	var d websocket.Dialer
	url := "ws://pipe/ws"
	if tcp {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		url = "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
	} else {
		l := newPipeListener()
		srv := &http.Server{Handler: h}
		go srv.Serve(l)
		t.Cleanup(func() { srv.Close() })
		d.NetDialContext = l.dial
	}
	client, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := &pair{srv: <-conns, client: client, obs: obs}
	t.Cleanup(func() {
		client.Close()
		p.srv.Abort(websocket.CloseGoingAway, "test over")
		done := make(chan struct{})
		go func() { p.srv.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("the Conn's goroutines did not end")
		}
	})
	return p
}

// read is the client's next message, failing the test on an error.
func (p *pair) read(t *testing.T) string {
	t.Helper()
	_ = p.client.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, b, err := p.client.ReadMessage()
	if err != nil {
		t.Fatalf("client read: %v", err)
	}
	return string(b)
}

// closeErr reads until the connection ends and returns its close frame.
func (p *pair) closeErr(t *testing.T) *websocket.CloseError {
	t.Helper()
	_ = p.client.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := p.client.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("the connection ended without a close frame: %v", err)
		}
		return ce
	}
}

// writerTook waits until the writer has taken everything queued and is
// writing it (over a pipe nobody reads, it stays there).
func (p *pair) writerTook(t *testing.T) {
	t.Helper()
	eventually(t, "the writer takes the queue", func() bool {
		p.srv.mu.Lock()
		defer p.srv.mu.Unlock()
		return len(p.srv.queue) == 0 && p.srv.writing
	})
}

func frame(s string) *wire.Frame { return wire.NewFrame(0, []byte(s)) }

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// goroutines counts the goroutines running fn (e.g. "(*Conn).writeLoop").
func goroutines(fn string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "socket."+fn+"(") {
			count++
		}
	}
	return count
}
