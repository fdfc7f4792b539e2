package presence

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/internal/netcut"
)

// fakeHub is an instance's hub: the subscriptions it holds, and the
// presence events it delivered to them.
type fakeHub struct {
	mu     sync.Mutex
	local  map[[2]int64]bool
	events []event
}

type event struct {
	room, user int64
	online     bool
}

func newFakeHub(subs ...[2]int64) *fakeHub {
	h := &fakeHub{local: map[[2]int64]bool{}}
	for _, s := range subs {
		h.local[s] = true
	}
	return h
}

func (h *fakeHub) Presence(room, user int64, online bool) {
	h.mu.Lock()
	h.events = append(h.events, event{room, user, online})
	h.mu.Unlock()
}

func (h *fakeHub) LocalUsers(room int64) []int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []int64
	for s := range h.local {
		if s[0] == room {
			out = append(out, s[1])
		}
	}
	slices.Sort(out)
	return out
}

func (h *fakeHub) LocalPresence(f func(room, user int64)) {
	h.mu.Lock()
	subs := make([][2]int64, 0, len(h.local))
	for s := range h.local {
		subs = append(subs, s)
	}
	h.mu.Unlock()
	for _, s := range subs {
		f(s[0], s[1])
	}
}

// seen reports whether the hub delivered e.
func (h *fakeHub) seen(e event) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Contains(h.events, e)
}

func (h *fakeHub) waitFor(t *testing.T, e event, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !h.seen(e) {
		if time.Now().After(deadline) {
			h.mu.Lock()
			defer h.mu.Unlock()
			t.Fatalf("no %+v within %v; delivered %+v", e, within, h.events)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// fakeBus delivers presence to the other instances' hubs, as the bus does.
type fakeBus struct {
	mu     sync.Mutex
	others []*fakeHub
}

func (b *fakeBus) PublishPresence(_ context.Context, room, user int64, online bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, h := range b.others {
		h.Presence(room, user, online)
	}
	return nil
}

const redisAddr = "127.0.0.1:6379"

// testPrefix is a Redis prefix of the test's own, its keys deleted after.
func testPrefix(t *testing.T) string {
	t.Helper()
	p := fmt.Sprintf("test:presence:%s:%d:", t.Name(), time.Now().UnixNano())
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		rdb.Close()
		t.Skipf("no Redis at %s: %v", redisAddr, err)
	}
	t.Cleanup(func() {
		defer rdb.Close()
		ctx := context.Background()
		keys, _ := rdb.Keys(ctx, p+"*").Result()
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
	})
	return p
}

type instance struct {
	p   *Redis
	hub *fakeHub
	bus *fakeBus
}

func newInstance(t *testing.T, prefix, name string, rdb redis.UniversalClient, subs ...[2]int64) *instance {
	t.Helper()
	t.Cleanup(func() { rdb.Close() })
	in := &instance{hub: newFakeHub(subs...), bus: &fakeBus{}}
	p, err := NewRedis(RedisConfig{Client: rdb, Prefix: prefix, Instance: name, Hub: in.hub, Bus: in.bus,
		Beat: 50 * time.Millisecond, DeadAfter: 250 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	in.p = p
	t.Cleanup(func() { _ = p.Stop(context.Background()) })
	return in
}

// connect makes each instance's bus reach the others' hubs.
func connect(ins ...*instance) {
	for _, a := range ins {
		for _, b := range ins {
			if a != b {
				a.bus.others = append(a.bus.others, b.hub)
			}
		}
	}
}

func online(t *testing.T, in *instance, room int64) []int64 {
	t.Helper()
	users, err := in.p.Online(context.Background(), room)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(users)
	return users
}

// TestMemory: one instance: its hub is told, and knows who is online.
func TestMemory(t *testing.T) {
	h := newFakeHub([2]int64{1, 7})
	var m Manager = NewMemory(h)
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	m.Changed(1, 7, true)
	if !h.seen(event{1, 7, true}) {
		t.Fatal("the hub was not told")
	}
	if users, _ := m.Online(context.Background(), 1); !slices.Equal(users, []int64{7}) {
		t.Fatalf("online %v", users)
	}
	if err := m.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestOfflineWhenGoneEverywhere: a user's last subscription on one
// instance is no "offline" while another instance still holds the user.
func TestOfflineWhenGoneEverywhere(t *testing.T) {
	prefix := testPrefix(t)
	a := newInstance(t, prefix, "a", redis.NewClient(&redis.Options{Addr: redisAddr}))
	b := newInstance(t, prefix, "b", redis.NewClient(&redis.Options{Addr: redisAddr}))
	connect(a, b)
	a.p.Changed(1, 7, true)
	b.p.Changed(1, 7, true)
	b.p.Changed(1, 8, true)
	if !b.hub.seen(event{1, 7, true}) || !a.hub.seen(event{1, 8, true}) {
		t.Fatal("online not pushed to the other instance")
	}
	if got := online(t, a, 1); !slices.Equal(got, []int64{7, 8}) {
		t.Fatalf("online %v", got)
	}
	a.p.Changed(1, 7, false)
	if a.hub.seen(event{1, 7, false}) || b.hub.seen(event{1, 7, false}) {
		t.Fatal("offline pushed while b holds the user")
	}
	b.p.Changed(1, 7, false)
	if !a.hub.seen(event{1, 7, false}) || !b.hub.seen(event{1, 7, false}) {
		t.Fatal("no offline once no instance holds the user")
	}
	if got := online(t, b, 1); !slices.Equal(got, []int64{8}) {
		t.Fatalf("online %v", got)
	}
}

// TestReapsLostInstance: an instance that stops beating (its Redis
// connections cut, as a crash looks to the others) has its users pushed
// offline by a survivor, except those the survivor holds too; back, it
// finds itself reaped and announces the users it holds alone.
func TestReapsLostInstance(t *testing.T) {
	prefix := testPrefix(t)
	const room, ann, dan = 1, 7, 8
	link := &netcut.Link{}
	a := newInstance(t, prefix, "a", redis.NewClient(&redis.Options{Addr: redisAddr, Dialer: link.Dial, MaxRetries: -1}),
		[2]int64{room, ann}, [2]int64{room, dan})
	b := newInstance(t, prefix, "b", redis.NewClient(&redis.Options{Addr: redisAddr}), [2]int64{room, dan})
	connect(a, b)
	a.p.Changed(room, ann, true)
	a.p.Changed(room, dan, true)
	b.p.Changed(room, dan, true)
	for _, in := range []*instance{a, b} {
		if err := in.p.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond) // both have beaten
	danOnline := count(b.hub, event{room, dan, true})

	link.Cut(true)
	b.hub.waitFor(t, event{room, ann, false}, 5*time.Second)
	if b.hub.seen(event{room, dan, false}) {
		t.Fatal("dan, held by the survivor too, pushed offline")
	}
	if got := online(t, b, room); !slices.Equal(got, []int64{dan}) {
		t.Fatalf("online after the reap: %v", got)
	}

	link.Cut(false)
	deadline := time.Now().Add(5 * time.Second)
	for count(b.hub, event{room, ann, true}) < 2 { // the first was a's Changed
		if time.Now().After(deadline) {
			t.Fatal("ann not announced again after the instance came back")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := online(t, b, room); !slices.Equal(got, []int64{ann, dan}) {
		t.Fatalf("online after the instance came back: %v", got)
	}
	time.Sleep(150 * time.Millisecond)
	if n := count(b.hub, event{room, dan, true}); n != danOnline {
		t.Fatalf("dan, whom nobody took offline, announced online again (%d events, were %d)", n, danOnline)
	}
}

func count(h *fakeHub, e event) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, x := range h.events {
		if x == e {
			n++
		}
	}
	return n
}

// TestBuiltNotStarted: a Redis presence built and stopped without Start
// (as `caddy validate` does) never connects.
func TestBuiltNotStarted(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	rdb := redis.NewClient(&redis.Options{Addr: l.Addr().String()})
	defer rdb.Close()
	p, err := NewRedis(RedisConfig{Client: rdb, Prefix: "x:", Instance: "i", Hub: newFakeHub(), Bus: &fakeBus{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil { // after Stop: nothing
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if n := accepted.Load(); n != 0 {
		t.Fatalf("%d connections accepted", n)
	}
}
