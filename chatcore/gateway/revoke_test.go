package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/chatcore"
	"github.com/chatgate/chatgate/chatcore/socket"
	"github.com/chatgate/chatgate/chatcore/store"
	"github.com/chatgate/chatgate/chatcore/wire"
	"github.com/chatgate/chatgate/internal/testenv"
)

// leaveVia posts a leave for user through the instance's REST API.
func leaveVia(t testing.TB, in *instance, room int64, user chatcore.User) {
	t.Helper()
	resp, err := in.client(user).Do(context.Background(), "POST", fmt.Sprintf("/api/rooms/%d/leave", room), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("leave: %d", resp.StatusCode)
	}
}

// privateRoomWith makes a private room owned by a new user, with member
// as its second member.
func privateRoomWith(t testing.TB, in *instance) (room int64, member chatcore.User) {
	t.Helper()
	ctx := context.Background()
	st := in.core.Store
	owner, err := st.CreateUser(ctx, "owner", fmt.Sprintf("owner.%d@example.test", time.Now().UnixNano()), "x")
	if err != nil {
		t.Fatal(err)
	}
	member, err = st.CreateUser(ctx, "member", fmt.Sprintf("member.%d@example.test", time.Now().UnixNano()), "x")
	if err != nil {
		t.Fatal(err)
	}
	r, err := st.CreateRoom(ctx, owner.ID, "private", true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Join(ctx, r.ID, member.ID, chatcore.RoleMember); err != nil {
		t.Fatal(err)
	}
	return r.ID, member
}

// TestRevokeAcrossInstances: a leave through one instance ends the user's
// subscription on the other at once, with an unsubscribed event, and a
// subscribe there afterwards is refused.
func TestRevokeAcrossInstances(t *testing.T) {
	rs := testenv.StartRedis(t)
	newClient := func() redis.UniversalClient { return redis.NewClient(&redis.Options{Addr: rs.Addr()}) }
	a, b := startInstance(t, "a", newClient()), startInstance(t, "b", newClient())
	room, bob := privateRoomWith(t, a)
	p := b.dial(t, bob)
	p.subscribe(t, room)

	start := time.Now()
	leaveVia(t, a, room, bob)
	if e := p.want(t, "unsubscribed", time.Second); e.Room != room {
		t.Fatalf("unsubscribed from %d, want %d", e.Room, room)
	}
	t.Logf("unsubscribed on the other instance %v after the leave began", time.Since(start).Round(time.Microsecond))
	p.send(t, map[string]any{"type": "subscribe", "room": room})
	if e := p.want(t, "error", 2*time.Second); e.Room != room {
		t.Fatalf("subscribe after leaving: %+v", e)
	}
}

// TestRevokeWhileRedisDown: with Redis gone no notice travels, so the
// instance holding the subscription finds the leave in Postgres within its
// unhealthy sweep period (SECURITY.md: fail closed).
func TestRevokeWhileRedisDown(t *testing.T) {
	rs := testenv.StartRedis(t)
	newClient := func() redis.UniversalClient { return outageClient(rs) }
	a, b := startInstance(t, "a", newClient()), startInstance(t, "b", newClient())
	room, bob := privateRoomWith(t, a)
	p := b.dial(t, bob)
	p.subscribe(t, room)
	// Warm b's cached membership: a positive answer it must stop trusting.
	if ok, err := b.core.IsMember(context.Background(), room, bob.ID); err != nil || !ok {
		t.Fatalf("member before: %v %v", ok, err)
	}

	rs.Stop()
	start := time.Now()
	leaveVia(t, a, room, bob)
	// Detection of the lost channel (a ping every 2 s) plus one sweep.
	if e := p.want(t, "unsubscribed", 8*time.Second); e.Room != room {
		t.Fatalf("unsubscribed from %d, want %d", e.Room, room)
	}
	t.Logf("unsubscribed %v after the leave, with Redis down", time.Since(start).Round(time.Millisecond))
	if ok, err := b.core.IsMember(context.Background(), room, bob.ID); err != nil || ok {
		t.Fatalf("b still answers member=%v (%v) with Redis down", ok, err)
	}
}

// TestTokenExpiryClosesSocket: a token is checked at the upgrade, and the
// connection ends with 4401 once the token would be refused, within a ping
// interval, instead of outliving it by days.
func TestTokenExpiryClosesSocket(t *testing.T) {
	core, err := New(Config{Store: store.Config{DSN: testDSN(), MaxConns: 2},
		Secret: []byte("expiry-test-secret-0123456789"), Instance: "expiry", TokenTTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := core.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	api := NewAPI(core, APIConfig{Socket: socket.Config{PingInterval: 100 * time.Millisecond}})
	srv := httptest.NewServer(api)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		api.Close(ctx)
		srv.Close()
		_ = core.Stop(ctx)
	})
	tok, exp := core.Signer.Issue(1, "expiring")
	c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws?token="+tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != wire.CloseUnauthorized {
			t.Fatalf("want close 4401 after the token expired, got %v", err)
		}
		// Tokens carry whole seconds: refused from time.Unix(exp.Unix(), 0).
		if late := time.Since(time.Unix(exp.Unix(), 0)); late < 0 || late > time.Second {
			t.Fatalf("closed %v after the token's expiry", late)
		}
		return
	}
}

// TestLeaveUnsubscribesOnce: the leave's own unsubscribe and the revoker's
// re-check race on the instance that took the leave; the socket gets one
// unsubscribed event, not two.
func TestLeaveUnsubscribesOnce(t *testing.T) {
	a := startInstance(t, "solo", nil)
	room, bob := privateRoomWith(t, a)
	for i := range 20 {
		p := a.dial(t, bob)
		p.subscribe(t, room)
		leaveVia(t, a, room, bob)
		if e := p.want(t, "unsubscribed", 2*time.Second); e.Room != room {
			t.Fatalf("round %d: unsubscribed from %d", i, e.Room)
		}
		time.Sleep(20 * time.Millisecond) // let a second one, if any, arrive
		p.send(t, map[string]any{"type": "ping"})
		p.want(t, "pong", 2*time.Second) // fails on a second unsubscribed
		if _, err := a.core.Store.Join(context.Background(), room, bob.ID, chatcore.RoleMember); err != nil {
			t.Fatal(err)
		}
		a.core.membershipChanged(context.Background(), room, bob.ID)
	}
}
