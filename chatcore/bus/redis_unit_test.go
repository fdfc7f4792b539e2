package bus

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/chatcore"
	"github.com/chatgate/chatgate/internal/testenv"
)

// These tests run the bus against a private redis-server, so they can kill
// it, and so the rooms they use are theirs alone.

// event is one delivery, whatever its kind.
type event struct {
	kind      string // "m", "t", "p"
	room      int64
	user      int64
	online    bool
	bodies    []string
	committed time.Time
}

// sink is a Handler that hands every delivery over, and can be made to
// block in OnMessages until released.
type sink struct {
	events chan event
	mu     sync.Mutex
	gate   chan struct{} // non-nil: OnMessages waits for it to close
}

func newSink() *sink { return &sink{events: make(chan event, 256)} }

func (s *sink) OnMessages(msgs []chatcore.Message, committed time.Time) {
	s.mu.Lock()
	gate := s.gate
	s.mu.Unlock()
	if gate != nil {
		<-gate
	}
	e := event{kind: "m", committed: committed}
	for _, m := range msgs {
		e.room = m.Room
		e.bodies = append(e.bodies, m.Body)
	}
	s.events <- e
}
func (s *sink) OnTyping(room, user int64) { s.events <- event{kind: "t", room: room, user: user} }
func (s *sink) OnPresence(room, user int64, online bool) {
	s.events <- event{kind: "p", room: room, user: user, online: online}
}

func (s *sink) next(t *testing.T) event {
	t.Helper()
	select {
	case e := <-s.events:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("nothing delivered within 10 s")
		return event{}
	}
}

// none fails if anything is delivered within d.
func (s *sink) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case e := <-s.events:
		t.Fatalf("unexpected delivery %+v", e)
	case <-time.After(d):
	}
}

// resyncs records what the bus asks to backfill.
type resyncs struct{ calls chan []int64 }

func (r resyncs) Resync(rooms []int64) {
	rooms = slices.Clone(rooms)
	slices.Sort(rooms)
	r.calls <- rooms
}

type node struct {
	bus  *Redis
	sink *sink
}

// startNode starts a bus instance on rs watching rooms, under a prefix of
// the test's own.
func startNode(t *testing.T, rs *testenv.Redis, instance string, rooms ...int64) *node {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr(), DialTimeout: 200 * time.Millisecond, MaxRetries: 1})
	t.Cleanup(func() { rdb.Close() })
	n := &node{bus: NewRedis(RedisConfig{Client: rdb, Prefix: "t:", Instance: instance}), sink: newSink()}
	for _, r := range rooms {
		n.bus.Watch(r)
	}
	if err := n.bus.Start(n.sink); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.bus.Close() })
	return n
}

// waitSubscribers waits until every channel of rooms has n subscribers.
func waitSubscribers(t *testing.T, rs *testenv.Redis, b *Redis, n int64, rooms ...int64) {
	t.Helper()
	c := rs.Client()
	var chans []string
	for _, r := range rooms {
		chans = append(chans, b.channel(r))
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		counts, err := c.PubSubNumSub(context.Background(), chans...).Result()
		ok := err == nil
		for _, ch := range chans {
			ok = ok && counts[ch] == n
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("subscribers of %v: %v %v, want %d each", chans, counts, err, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func msg(room int64, body string) chatcore.Message {
	return chatcore.Message{Room: room, Seq: 1, Body: body, TS: time.Now()}
}

func publish(t *testing.T, b *Redis, msgs ...chatcore.Message) {
	t.Helper()
	if err := b.PublishMessages(context.Background(), msgs, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// Redis dies and comes back: the bus resubscribes on its own, tells the
// Resyncer every room watched at that moment (including one watched and
// without the one unwatched during the outage), and delivers again.
func TestResubscribeAfterRedisRestart(t *testing.T) {
	rs := testenv.StartRedis(t)
	a := startNode(t, rs, "a", 1, 2, 3)
	rec := resyncs{calls: make(chan []int64, 8)}
	a.bus.SetResyncer(rec)
	b := startNode(t, rs, "b")
	waitSubscribers(t, rs, a.bus, 1, 1, 2, 3)
	publish(t, b.bus, msg(1, "before"))
	if e := a.sink.next(t); e.room != 1 || e.bodies[0] != "before" {
		t.Fatalf("got %+v", e)
	}

	rs.Stop()
	// A publish during the outage fails (the caller's store has it; the
	// resync brings it to the other instances).
	if err := b.bus.PublishMessages(context.Background(), []chatcore.Message{msg(2, "lost")}, time.Now()); err == nil {
		t.Fatal("publish with Redis down succeeded")
	}
	a.bus.Unwatch(3)
	a.bus.Watch(4)
	select {
	case rooms := <-rec.calls:
		t.Fatalf("resync %v before Redis is back", rooms)
	case <-time.After(300 * time.Millisecond):
	}
	rs.Start()

	select {
	case rooms := <-rec.calls:
		if !slices.Equal(rooms, []int64{1, 2, 4}) {
			t.Fatalf("resync %v, want the rooms watched now: [1 2 4]", rooms)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no resync within 15 s of Redis coming back")
	}
	waitSubscribers(t, rs, a.bus, 1, 1, 2, 4)
	waitSubscribers(t, rs, a.bus, 0, 3)
	publish(t, b.bus, msg(3, "unwatched"), msg(4, "watched during the outage"), msg(2, "after"))
	var got []string
	for range 2 {
		got = append(got, a.sink.next(t).bodies...)
	}
	slices.Sort(got)
	if want := []string{"after", "watched during the outage"}; !slices.Equal(got, want) {
		t.Fatalf("after the restart got %q, want %q", got, want)
	}
	a.sink.none(t, 100*time.Millisecond)
	select {
	case rooms := <-rec.calls:
		t.Fatalf("a second resync %v for one outage", rooms)
	default:
	}
}

// An instance skips its own publications (it delivered them locally);
// another instance of the deployment gets them.
func TestSkipsOwnPublications(t *testing.T) {
	rs := testenv.StartRedis(t)
	a, b := startNode(t, rs, "a", 5), startNode(t, rs, "b", 5)
	waitSubscribers(t, rs, a.bus, 2, 5)
	publish(t, a.bus, msg(5, "from a"))
	publish(t, b.bus, msg(5, "from b"))
	if e := a.sink.next(t); e.bodies[0] != "from b" {
		t.Fatalf("a got %q first: its own publication came back", e.bodies)
	}
	if e := b.sink.next(t); e.bodies[0] != "from a" {
		t.Fatalf("b got %q first, want a's", e.bodies)
	}
	a.sink.none(t, 100*time.Millisecond)
	b.sink.none(t, 0)
}

// Watch and Unwatch decide what arrives; watching twice is one
// subscription, and one Unwatch ends it.
func TestWatchUnwatch(t *testing.T) {
	rs := testenv.StartRedis(t)
	a, b := startNode(t, rs, "a", 7), startNode(t, rs, "b")
	a.bus.Watch(7)
	waitSubscribers(t, rs, a.bus, 1, 7)
	publish(t, b.bus, msg(8, "unwatched"), msg(7, "watched"))
	if e := a.sink.next(t); e.room != 7 {
		t.Fatalf("got room %d", e.room)
	}
	a.bus.Unwatch(7)
	a.bus.Watch(8)
	waitSubscribers(t, rs, a.bus, 0, 7)
	waitSubscribers(t, rs, a.bus, 1, 8)
	publish(t, b.bus, msg(7, "after unwatch"), msg(8, "now watched"))
	if e := a.sink.next(t); e.room != 8 || e.bodies[0] != "now watched" {
		t.Fatalf("got %+v, want room 8 only", e)
	}
	a.sink.none(t, 100*time.Millisecond)
	a.bus.Unwatch(99) // never watched: nothing happens
}

// Typing and presence travel as their own envelopes; messages for several
// rooms go as one envelope per room with the commit time.
func TestEnvelopes(t *testing.T) {
	rs := testenv.StartRedis(t)
	a, b := startNode(t, rs, "a", 9, 10), startNode(t, rs, "b")
	waitSubscribers(t, rs, a.bus, 1, 9, 10)
	ctx := context.Background()
	if err := b.bus.PublishTyping(ctx, 9, 42); err != nil {
		t.Fatal(err)
	}
	if err := b.bus.PublishPresence(ctx, 9, 42, true); err != nil {
		t.Fatal(err)
	}
	if err := b.bus.PublishPresence(ctx, 9, 43, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []event{{kind: "t", room: 9, user: 42}, {kind: "p", room: 9, user: 42, online: true}, {kind: "p", room: 9, user: 43}} {
		if e := a.sink.next(t); fmt.Sprint(e) != fmt.Sprint(want) {
			t.Fatalf("got %+v, want %+v", e, want)
		}
	}
	committed := time.Now().Add(-time.Second)
	m := []chatcore.Message{msg(9, "x"), msg(10, "y"), msg(9, "z")}
	if err := b.bus.PublishMessages(ctx, m, committed); err != nil {
		t.Fatal(err)
	}
	byRoom := map[int64][]string{}
	for range 2 {
		e := a.sink.next(t)
		if !e.committed.Equal(committed) {
			t.Fatalf("committed %v, want %v", e.committed, committed)
		}
		byRoom[e.room] = e.bodies
	}
	if fmt.Sprint(byRoom) != fmt.Sprint(map[int64][]string{9: {"x", "z"}, 10: {"y"}}) {
		t.Fatalf("envelopes per room: %v", byRoom)
	}
}

// The Handler runs on the read loop, so a slow one delays deliveries (the
// hub's never blocks), but it holds nothing else up: the same instance
// publishes and watches meanwhile, and once it returns everything arrives,
// in order.
func TestSlowHandler(t *testing.T) {
	rs := testenv.StartRedis(t)
	a, b := startNode(t, rs, "a", 11), startNode(t, rs, "b", 11)
	waitSubscribers(t, rs, a.bus, 2, 11)
	gate := make(chan struct{})
	a.sink.mu.Lock()
	a.sink.gate = gate
	a.sink.mu.Unlock()
	for i := range 20 {
		publish(t, b.bus, msg(11, fmt.Sprint(i)))
	}
	time.Sleep(50 * time.Millisecond) // a's read loop is in OnMessages now
	ctx := context.Background()
	start := time.Now()
	if err := a.bus.PublishTyping(ctx, 11, 1); err != nil {
		t.Fatal(err)
	}
	a.bus.Watch(12)
	publish(t, a.bus, msg(11, "from a"))
	if d := time.Since(start); d > time.Second {
		t.Fatalf("publishing and watching took %v while a's Handler was blocked", d)
	}
	if e := b.sink.next(t); e.kind != "t" {
		t.Fatalf("b got %+v, want a's typing", e)
	}
	close(gate)
	for i := range 20 {
		if e := a.sink.next(t); e.bodies[0] != fmt.Sprint(i) {
			t.Fatalf("delivery %d: %q (lost or reordered behind the slow Handler)", i, e.bodies)
		}
	}
}

// A cluster master dies with the bus subscribed to its slots: its replica
// takes over within a few seconds (node timeout 2 s), and the bus must
// follow at once: resubscribe on the new master, tell the Resyncer the
// rooms of the broken partition (only those), and publish there again.
// Rooms on the other masters carry on throughout. go-redis's slot map goes
// on naming the dead master until refreshed, and nothing refreshed it for
// up to 10 s: the partition stayed deaf that long after the failover.
func TestResubscribeAfterClusterFailover(t *testing.T) {
	rc := testenv.StartRedisClusterReplicas(t, 3, 1)
	newClient := func() *redis.ClusterClient {
		// As the gateway's (caddymodule's appRedisTimeouts).
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: rc.Addrs(), DialTimeout: 2 * time.Second,
			ReadTimeout: time.Second, WriteTimeout: time.Second, DialerRetries: 1})
		t.Cleanup(func() { c.Close() })
		return c
	}
	a := &node{bus: NewRedis(RedisConfig{Client: newClient(), Prefix: "t:", Instance: "a"}), sink: newSink()}
	b := NewRedis(RedisConfig{Client: newClient(), Prefix: "t:", Instance: "b"})
	t.Cleanup(func() { b.Close() })
	rec := resyncs{calls: make(chan []int64, 64)}
	a.bus.SetResyncer(rec)
	// One room per partition; the victim is the master of room 0's.
	rooms := make([]int64, a.bus.cfg.Partitions)
	for i := range rooms {
		rooms[i] = int64(i)
		a.bus.Watch(rooms[i])
	}
	if err := a.bus.Start(a.sink); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.bus.Close() })
	victim, replicas := rc.MasterOf(t, a.bus.channel(0))
	if len(replicas) != 1 {
		t.Fatalf("master %s has replicas %v: %+v", victim.Addr(), replicas, rc)
	}
	var lost, kept []int64 // rooms on the victim's slots, and the others
	for _, r := range rooms {
		if m, _ := rc.MasterOf(t, a.bus.channel(r)); m == victim {
			lost = append(lost, r)
		} else {
			kept = append(kept, r)
		}
	}
	if len(kept) == 0 {
		t.Fatal("every partition on one master")
	}

	// deliver publishes body to room from b until a gets it (subscriptions
	// take effect asynchronously), within d.
	deliver := func(room int64, body string, d time.Duration) {
		t.Helper()
		deadline := time.Now().Add(d)
		for {
			err := b.PublishMessages(context.Background(), []chatcore.Message{msg(room, body)}, time.Now())
			if err == nil {
				select {
				case e := <-a.sink.events:
					if e.room == room && e.bodies[0] == body {
						return
					}
				case <-time.After(100 * time.Millisecond):
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("room %d: %q not delivered within %v (last publish: %v)", room, body, d, err)
			}
		}
	}
	for _, r := range rooms {
		deliver(r, fmt.Sprint("before ", r), 10*time.Second)
	}

	victim.Stop()
	killed := time.Now()
	// The other masters' rooms carry on while the victim's slots are down.
	deliver(kept[0], "during", time.Second)
	promoted := rc.WaitMaster(t, replicas[0], 20*time.Second)
	t.Logf("replica %s took over %v after the kill", replicas[0].Addr(), promoted.Sub(killed).Round(time.Millisecond))

	// The broken partition's rooms are resynced once it is back, on the
	// new master; no other room is.
	const follow = 3 * time.Second
	var resynced []int64
	for len(resynced) < len(lost) {
		select {
		case got := <-rec.calls:
			resynced = append(resynced, got...)
		case <-time.After(time.Until(promoted.Add(follow))):
			t.Fatalf("resync %v within %v of the failover, want rooms %v", resynced, follow, lost)
		}
	}
	t.Logf("resynced %v after the failover", time.Since(promoted).Round(time.Millisecond))
	slices.Sort(resynced)
	if !slices.Equal(resynced, lost) {
		t.Fatalf("resynced %v, want the victim's rooms %v", resynced, lost)
	}
	deliver(lost[0], "after", time.Until(promoted.Add(follow)))
	deliver(kept[0], "after", time.Second)
}
