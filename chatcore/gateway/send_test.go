package gateway

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chatgate/chatgate/chatcore"
	"github.com/chatgate/chatgate/chatcore/auth"
	"github.com/chatgate/chatgate/chatcore/store"
)

// fakePorts records the order in which the send use case reaches each
// step. Its submit answers at once, on the caller's goroutine.
type fakePorts struct {
	calls    []string
	userOK   bool
	authErr  error
	res      store.SendResult
	shown    chan struct{}
	submitOK bool
}

func newFakePorts() *fakePorts {
	return &fakePorts{userOK: true, submitOK: true, shown: make(chan struct{}),
		res: store.SendResult{Msg: chatcore.Message{Room: 7, Seq: 1, Body: "hi"}}}
}

// sender is the use case over the fake, with a 16-byte body limit.
func (f *fakePorts) sender() sender {
	return sender{maxBody: 16, limits: f, members: f, batcher: f, caches: f,
		received: prometheus.NewCounter(prometheus.CounterOpts{Name: "received"})}
}

func (f *fakePorts) allowUserSend(context.Context, int64) bool {
	f.calls = append(f.calls, "user_rate")
	return f.userOK
}
func (f *fakePorts) authorize(context.Context, int64, auth.Claims) error {
	f.calls = append(f.calls, "membership")
	return f.authErr
}
func (f *fakePorts) Submit(_ store.SendRequest, done func(store.SendResult)) error {
	f.calls = append(f.calls, "submit")
	if !f.submitOK {
		return chatcore.ErrUnavailable
	}
	done(f.res)
	return nil
}
func (f *fakePorts) visible(int64, int64) <-chan struct{} {
	f.calls = append(f.calls, "invalidated")
	return f.shown
}

func errCode(err error) string {
	if err == nil {
		return ""
	}
	return classify(err).code
}

// TestSendCheckOrder: both transports run size, UTF-8, rate (the
// connection's bucket, then the user's), membership, then submit, and stop
// at the first refusal without reaching the later steps.
func TestSendCheckOrder(t *testing.T) {
	connLimited := errConnSendRate
	cases := []struct {
		name     string
		body     string
		cid      string
		conn     error // the WebSocket connection's bucket
		userOK   bool
		authErr  error
		wantCode string
		wantWS   []string // steps reached over WebSocket
	}{
		{"oversize from a non-member is too_large", strings.Repeat("x", 17), "c", nil, true, errNotMember, "too_large", nil},
		{"oversize and rate limited is too_large", strings.Repeat("x", 17), "c", connLimited, false, nil, "too_large", nil},
		{"empty", "  ", "c", nil, true, nil, "bad_request", nil},
		{"cid too long", "hi", strings.Repeat("c", 129), nil, true, nil, "bad_request", nil},
		{"invalid UTF-8 and rate limited is bad_request", "bad \xff", "c", connLimited, false, nil, "bad_request", nil},
		{"NUL from a non-member is bad_request", "a\x00b", "c", nil, true, errNotMember, "bad_request", nil},
		{"connection bucket before the user's", "hi", "c", connLimited, true, nil, "rate_limited", []string{"conn_rate"}},
		{"rate limited non-member is rate_limited, membership not looked up", "hi", "c", nil, false, errNotMember, "rate_limited", []string{"conn_rate", "user_rate"}},
		{"non-member", "hi", "c", nil, true, errNotMember, "forbidden", []string{"conn_rate", "user_rate", "membership"}},
		{"unknown room", "hi", "c", nil, true, errNoRoom, "not_found", []string{"conn_rate", "user_rate", "membership"}},
		{"accepted", "hi", "c", nil, true, nil, "", []string{"conn_rate", "user_rate", "membership", "submit"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := outgoing{room: 7, who: auth.Claims{UserID: 1}, body: c.body, cid: c.cid}
			// WebSocket: sendAsync with the connection's bucket.
			ws := newFakePorts()
			ws.userOK, ws.authErr = c.userOK, c.authErr
			own := func() error { ws.calls = append(ws.calls, "conn_rate"); return c.conn }
			var acked error
			err := ws.sender().sendAsync(context.Background(), m, own, func(_ store.SendResult, err error) { acked = err })
			if err == nil {
				err = acked
			}
			if errCode(err) != c.wantCode || !slices.Equal(ws.calls, c.wantWS) {
				t.Errorf("WebSocket: %v after %v, want %q after %v", err, ws.calls, c.wantCode, c.wantWS)
			}
			// REST: sendSync, no bucket of its own; the same steps otherwise.
			if c.conn != nil && c.wantCode == "rate_limited" && !slices.Contains(c.wantWS, "user_rate") {
				return // only the connection's bucket refused: nothing to compare
			}
			rest := newFakePorts()
			rest.userOK, rest.authErr = c.userOK, c.authErr
			close(rest.shown)
			_, err = rest.sender().sendSync(context.Background(), m)
			var want []string
			for _, s := range c.wantWS {
				if s != "conn_rate" {
					want = append(want, s)
				}
			}
			if c.wantCode == "" {
				want = append(want, "invalidated")
			}
			if errCode(err) != c.wantCode || !slices.Equal(rest.calls, want) {
				t.Errorf("REST: %v after %v, want %q after %v", err, rest.calls, c.wantCode, want)
			}
		})
	}
}

// TestSendResult: a cid reused for another body or room is a conflict on
// both transports; the same message again is an idempotent success.
func TestSendResult(t *testing.T) {
	stored := chatcore.Message{Room: 7, Seq: 3, Body: "hi"}
	for _, c := range []struct {
		name, body string
		room       int64
		want       string
	}{{"same message", "hi", 7, ""}, {"other body", "ho", 7, "conflict"}, {"other room", "hi", 8, "conflict"}} {
		p := newFakePorts()
		p.res = store.SendResult{Msg: stored, Duplicate: true}
		m := outgoing{room: c.room, who: auth.Claims{UserID: 1}, body: c.body, cid: "c"}
		res, err := p.sender().sendSync(context.Background(), m)
		if errCode(err) != c.want || (err == nil && (!res.Duplicate || res.Msg.Seq != 3)) {
			t.Errorf("REST %s: %+v %v", c.name, res, err)
		}
		if slices.Contains(p.calls, "invalidated") {
			t.Errorf("REST %s: a duplicate waited for an invalidation", c.name)
		}
		var got error
		if err := p.sender().sendAsync(context.Background(), m, nil, func(_ store.SendResult, err error) { got = err }); err != nil {
			t.Fatal(err)
		}
		if errCode(got) != c.want {
			t.Errorf("WebSocket %s: %v", c.name, got)
		}
	}
	// A batcher that refuses (queue full) is the caller's error.
	p := newFakePorts()
	p.submitOK = false
	if _, err := p.sender().sendSync(context.Background(), outgoing{room: 7, body: "hi"}); !errors.Is(err, chatcore.ErrUnavailable) {
		t.Errorf("queue full: %v", err)
	}
}

// TestSendSyncWaitsForInvalidation: REST answers only once the room's
// caches are invalidated, or when its context ends (stored either way).
func TestSendSyncWaitsForInvalidation(t *testing.T) {
	p := newFakePorts()
	returned := make(chan error, 1)
	go func() {
		_, err := p.sender().sendSync(context.Background(), outgoing{room: 7, body: "hi", cid: "c"})
		returned <- err
	}()
	select {
	case err := <-returned:
		t.Fatalf("returned before the invalidation: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(p.shown)
	if err := <-returned; err != nil {
		t.Fatal(err)
	}

	p = newFakePorts()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if res, err := p.sender().sendSync(ctx, outgoing{room: 7, body: "hi", cid: "c"}); err != nil || res.Msg.Seq != 1 {
		t.Fatalf("invalidation never came: %+v %v, want the stored message", res, err)
	}
}
