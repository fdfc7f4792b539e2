package gateway

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/chatclient"
	"github.com/chatgate/chatgate/chatcore"
	"github.com/chatgate/chatgate/chatcore/store"
	"github.com/chatgate/chatgate/internal/testenv"
)

// Two gateway instances on one Postgres, joined by a Redis bus: a private
// redis-server (or a 3-master cluster) per test, so it can be killed
// (internal/testenv).

// gatewayDB is this test process's database, made empty by TestMain and
// dropped after: a database shared by every run gathered thousands of
// rooms (a room list over the cache's max_size, never stored), and tests
// that count rooms failed on what earlier runs left.
var gatewayDB = fmt.Sprintf("chatgate_test_gateway_%d", os.Getpid())

func testDSN() string {
	if v := os.Getenv("CHATGATE_TEST_POSTGRES_GATEWAY"); v != "" {
		return v
	}
	return testenv.DSN(gatewayDB)
}

func TestMain(m *testing.M) {
	own := os.Getenv("CHATGATE_TEST_POSTGRES_GATEWAY") == ""
	if own {
		if err := testenv.CreateDB(gatewayDB); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	if own {
		if err := testenv.DropDB(gatewayDB); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	os.Exit(code)
}

// instance is one gateway: a core, its API and an HTTP server.
type instance struct {
	core *Core
	api  *API
	srv  *httptest.Server
}

func startInstance(t testing.TB, name string, rdb redis.UniversalClient) *instance {
	t.Helper()
	return startInstanceWith(t, name, rdb, APIConfig{})
}

func startInstanceWith(t testing.TB, name string, rdb redis.UniversalClient, cfg APIConfig) *instance {
	t.Helper()
	core, err := New(Config{Store: store.Config{DSN: testDSN(), MaxConns: 4}, Secret: []byte("cluster-test-secret-0123456789"),
		Instance: name, Redis: rdb})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := core.Start(ctx); err != nil {
		t.Fatal(err)
	}
	api := NewAPI(core, cfg)
	srv := httptest.NewServer(api)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		api.Close(ctx)
		srv.Close()
		_ = core.Stop(ctx)
	})
	return &instance{core: core, api: api, srv: srv}
}

// outageClient is a Redis client for tests that stop rs: no retries and
// a short dial, so an instance notices the outage at once.
func outageClient(rs *testenv.Redis) redis.UniversalClient {
	return redis.NewClient(&redis.Options{Addr: rs.Addr(), MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
}

type wsEvent = chatclient.Event

// peer is one chatclient connection whose events are read in order.
type peer struct {
	conn *chatclient.Conn
}

// client is a protocol client of the instance acting as user.
func (in *instance) client(user chatcore.User) *chatclient.Client {
	tok, _ := in.core.Signer.Issue(user.ID, user.Name)
	return chatclient.New(in.srv.URL, chatclient.WithToken(tok), chatclient.WithDialer(websocket.DefaultDialer))
}

func (in *instance) dial(t testing.TB, user chatcore.User) *peer {
	t.Helper()
	c, err := in.client(user).Dial(context.Background(), &chatclient.DialOptions{TokenInQuery: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Drop)
	return &peer{conn: c}
}

func (p *peer) send(t testing.TB, v any) {
	t.Helper()
	if err := p.conn.WriteJSON(v); err != nil {
		t.Fatal(err)
	}
}

// poll returns an event already received, if there is one.
func (p *peer) poll() (wsEvent, bool) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e, err := p.conn.Next(ctx)
	return e, err == nil
}

// want returns the next event of type typ, skipping acks and pongs.
func (p *peer) want(t testing.TB, typ string, within time.Duration) wsEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		e, err := p.conn.Next(ctx)
		if ctx.Err() != nil {
			t.Fatalf("no %s within %v", typ, within)
		}
		if err != nil {
			t.Fatalf("closed waiting for %s", typ)
		}
		if e.Type == typ {
			return e
		}
		if e.Type != "ack" && e.Type != "pong" && e.Type != "subscribed" && e.Type != "presence" && e.Type != "typing" {
			t.Fatalf("want %s, got %+v", typ, e)
		}
	}
}

func (p *peer) subscribe(t testing.TB, room int64) {
	t.Helper()
	p.send(t, map[string]any{"type": "subscribe", "room": room})
	p.want(t, "subscribed", 5*time.Second)
}

func seedUsersAndRoom(t testing.TB, st *store.Store, rooms int) (chatcore.User, []int64) {
	t.Helper()
	ctx := context.Background()
	u, err := st.CreateUser(ctx, "cl", fmt.Sprintf("cl.%d@example.test", time.Now().UnixNano()), "x")
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for i := 0; i < rooms; i++ {
		r, err := st.CreateRoom(ctx, u.ID, fmt.Sprint("cluster-", i), false)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	return u, ids
}

// expectSeqs reads n messages for room and checks they are from..from+n-1.
func (p *peer) expectSeqs(t testing.TB, room, from int64, n int, within time.Duration) {
	t.Helper()
	for want := from; want < from+int64(n); want++ {
		e := p.want(t, "message", within)
		if e.Room != room || e.Seq != want {
			t.Fatalf("got room %d seq %d, want room %d seq %d", e.Room, e.Seq, room, want)
		}
	}
}

func TestRedisBusAcrossInstances(t *testing.T) {
	rs := testenv.StartRedis(t)
	newClient := func() redis.UniversalClient {
		return redis.NewClient(&redis.Options{Addr: rs.Addr(), DialTimeout: time.Second, ReadTimeout: time.Second, MaxRetries: 1})
	}
	a, b := startInstance(t, "a", newClient()), startInstance(t, "b", newClient())
	user, rooms := seedUsersAndRoom(t, a.core.Store, 1)
	room := rooms[0]
	other, err := a.core.Store.CreateUser(context.Background(), "other", fmt.Sprintf("o.%d@example.test", time.Now().UnixNano()), "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.core.Store.Join(context.Background(), room, other.ID, chatcore.RoleMember); err != nil {
		t.Fatal(err)
	}

	onA, onB := a.dial(t, user), b.dial(t, other)
	onA.subscribe(t, room)
	onB.subscribe(t, room)

	// Sends through either instance reach subscribers on both, in order.
	for i := 0; i < 20; i++ {
		p := onA
		if i%2 == 1 {
			p = onB
		}
		p.send(t, map[string]any{"type": "send", "room": room, "body": fmt.Sprint("x", i), "cid": fmt.Sprint("c", i)})
	}
	onA.expectSeqs(t, room, 1, 20, 5*time.Second)
	onB.expectSeqs(t, room, 1, 20, 5*time.Second)

	onB.send(t, map[string]any{"type": "typing", "room": room})
	if e := onA.want(t, "typing", 5*time.Second); e.Room != room {
		t.Fatalf("typing %+v", e)
	}

	// Redis dies: messages sent through B are stored and delivered on B;
	// A gets them when Redis is back, from the store, none twice.
	rs.Stop()
	for i := 0; i < 10; i++ {
		onB.send(t, map[string]any{"type": "send", "room": room, "body": "during outage", "cid": fmt.Sprint("o", i)})
	}
	onB.expectSeqs(t, room, 21, 10, 10*time.Second)
	rs.Start()
	onA.expectSeqs(t, room, 21, 10, 20*time.Second)
	onA.send(t, map[string]any{"type": "send", "room": room, "body": "after", "cid": "after"})
	onA.expectSeqs(t, room, 31, 1, 5*time.Second)
	onB.expectSeqs(t, room, 31, 1, 10*time.Second)
	if got := a.core.Metrics; got == nil {
		t.Fatal("no metrics")
	}
}

// TestRedisClusterShardedPubSub: the same across a local 3-master Redis
// Cluster, with SSUBSCRIBE/SPUBLISH and rooms spread over partitions.
func TestRedisClusterShardedPubSub(t *testing.T) {
	rc := testenv.StartRedisCluster(t, 3)
	addrs := rc.Addrs()
	newClient := func() redis.UniversalClient {
		return redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, DialTimeout: time.Second})
	}

	a, b := startInstance(t, "a", newClient()), startInstance(t, "b", newClient())
	user, rooms := seedUsersAndRoom(t, a.core.Store, 6)
	onA, onB := a.dial(t, user), b.dial(t, user)
	for _, r := range rooms {
		onA.subscribe(t, r)
	}
	// B only sends: it subscribes to nothing, and A hears all of it.
	time.Sleep(300 * time.Millisecond)
	for _, r := range rooms {
		for i := 0; i < 3; i++ {
			onB.send(t, map[string]any{"type": "send", "room": r, "body": "sharded", "cid": fmt.Sprint(r, "-", i)})
		}
	}
	got := map[int64]int64{}
	for n := 0; n < len(rooms)*3; n++ {
		e := onA.want(t, "message", 10*time.Second)
		if e.Seq != got[e.Room]+1 {
			t.Fatalf("room %d: seq %d after %d", e.Room, e.Seq, got[e.Room])
		}
		got[e.Room] = e.Seq
	}
	for _, r := range rooms {
		if got[r] != 3 {
			t.Fatalf("room %d got %d messages", r, got[r])
		}
	}
}

// TestPresenceAcrossInstances: a user subscribing on one instance is
// pushed as online to a subscriber on another, listed by either instance,
// and pushed as offline when their last connection goes, not before.
func TestPresenceAcrossInstances(t *testing.T) {
	rs := testenv.StartRedis(t)
	newClient := func() redis.UniversalClient { return redis.NewClient(&redis.Options{Addr: rs.Addr()}) }
	a, b := startInstance(t, "a", newClient()), startInstance(t, "b", newClient())
	ctx := context.Background()
	ann, rooms := seedUsersAndRoom(t, a.core.Store, 1)
	room := rooms[0]
	bob, err := a.core.Store.CreateUser(ctx, "bob", fmt.Sprintf("bob.%d@example.test", time.Now().UnixNano()), "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.core.Store.Join(ctx, room, bob.ID, chatcore.RoleMember); err != nil {
		t.Fatal(err)
	}
	watcher := b.dial(t, bob)
	watcher.subscribe(t, room)

	next := func() presenceEvent { t.Helper(); return watcher.nextPresence(t, 5*time.Second) }
	first, second := a.dial(t, ann), a.dial(t, ann)
	first.subscribe(t, room)
	if p := next(); p.User != ann.ID || !p.Online || p.Room != room {
		t.Fatalf("got %+v", p)
	}
	for _, in := range []*instance{a, b} {
		users, err := in.core.Online(ctx, room)
		if err != nil || len(users) != 2 {
			t.Fatalf("online %v %v", users, err)
		}
	}
	second.subscribe(t, room) // a second connection: no new event
	first.conn.Drop()
	second.send(t, map[string]any{"type": "ping"})
	time.Sleep(300 * time.Millisecond)
	if e, ok := watcher.poll(); ok && e.Type == "presence" {
		t.Fatalf("offline pushed while a connection remains: %+v", e)
	}
	second.conn.Drop()
	if p := next(); p.User != ann.ID || p.Online {
		t.Fatalf("got %+v", p)
	}
	users, _ := b.core.Online(ctx, room)
	if len(users) != 1 || users[0] != bob.ID {
		t.Fatalf("online after leaving: %v", users)
	}
}
