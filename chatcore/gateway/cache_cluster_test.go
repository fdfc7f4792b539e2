package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/cachemw"
	"github.com/chatgate/chatgate/chatclient"
	"github.com/chatgate/chatgate/chatcore/auth"
	"github.com/chatgate/chatgate/internal/testenv"
)

// cachedInstance is a gateway with the response cache in front, routed like
// the shipped Caddyfile's chat_cache blocks.
type cachedInstance struct {
	*instance
	cache *cachemw.Cache
	url   string
}

var (
	reRoom    = regexp.MustCompile(`^/api/rooms/([0-9]+)$`)
	reMembers = regexp.MustCompile(`^/api/rooms/([0-9]+)/members$`)
	reMsgs    = regexp.MustCompile(`^/api/rooms/([0-9]+)/messages$`)
)

// markStoredPart is the composing routes' Origin (caddymodule's compose).
func markStoredPart(r *http.Request) *http.Request {
	return r.WithContext(WithStoredPart(r.Context()))
}

// route mirrors the Caddyfile blocks (see caddymodule/cache_e2e_test.go);
// room info is per user here (the Caddyfile shares it among members).
func cacheRoute(core *Core, c *cachemw.Cache, r *http.Request) *cachemw.Route {
	p := r.URL.Path
	tag := func(prefix string, re *regexp.Regexp) func(*http.Request, string) []string {
		return func(r *http.Request, _ string) []string {
			return []string{prefix + re.FindStringSubmatch(r.URL.Path)[1]}
		}
	}
	tags := func(re *regexp.Regexp, prefixes ...string) func(*http.Request, string) []string {
		return func(r *http.Request, _ string) []string {
			id := re.FindStringSubmatch(r.URL.Path)[1]
			out := make([]string, len(prefixes))
			for i, p := range prefixes {
				out[i] = p + id
			}
			return out
		}
	}
	switch {
	case reRoom.MatchString(p):
		return &cachemw.Route{Name: "room", TTL: 5 * time.Minute, Private: true, Tags: tag("members:", reRoom),
			Origin: markStoredPart, Compose: func(r *http.Request, p cachemw.Part) ([]byte, string, error) {
				body, err := core.ComposeRoom(r.Context(), p.Body)
				return body, "", err
			}}
	case reMembers.MatchString(p):
		return &cachemw.Route{Name: "members", TTL: 5 * time.Minute, Private: true, Tags: tag("members:", reMembers)}
	case reMsgs.MatchString(p) && r.URL.Query().Has("before"):
		return &cachemw.Route{Name: "history", TTL: 10 * time.Minute, Private: true, VaryQuery: []string{"before", "limit"}, Tags: tags(reMsgs, "members:", "history:")}
	case reMsgs.MatchString(p) && r.URL.Query().Has("after"):
		return &cachemw.Route{Name: "after", TTL: 30 * time.Second, Private: true, VaryQuery: []string{"after", "limit"}, Tags: tag("room:", reMsgs)}
	case reMsgs.MatchString(p):
		// Shared by the members, as in the Caddyfile.
		return &cachemw.Route{Name: "messages", TTL: 5 * time.Minute, Private: true, VaryQuery: []string{"limit"}, Tags: tags(reMsgs, "members:", "history:"),
			Shared: func(r *http.Request, id string) bool {
				room, _ := strconv.ParseInt(reMsgs.FindStringSubmatch(r.URL.Path)[1], 10, 64)
				user, _ := strconv.ParseInt(id, 10, 64)
				ok, err := core.IsMember(r.Context(), room, user)
				return ok && err == nil
			},
			ComposeTags: tag("room:", reMsgs), Origin: markStoredPart, Compose: composeLatest(core, c)}
	case p == "/api/rooms":
		return &cachemw.Route{Name: "rooms", TTL: 10 * time.Minute, Private: true,
			Shared: func(*http.Request, string) bool { return true },
			Tags:   func(*http.Request, string) []string { return []string{"rooms:list"} },
			Origin: markStoredPart, Compose: func(r *http.Request, p cachemw.Part) ([]byte, string, error) {
				user, err := strconv.ParseInt(p.ID, 10, 64)
				if err != nil {
					return nil, "", err
				}
				return core.ComposeRoomList(r.Context(), user, p.Body, p.ETag)
			}}
	}
	return nil
}

// composeLatest is caddymodule's compose messages.
func composeLatest(core *Core, c *cachemw.Cache) func(*http.Request, cachemw.Part) ([]byte, string, error) {
	return func(r *http.Request, p cachemw.Part) ([]byte, string, error) {
		room, err := strconv.ParseInt(reMsgs.FindStringSubmatch(r.URL.Path)[1], 10, 64)
		if err != nil || len(p.Versions) != 1 {
			return nil, "", fmt.Errorf("compose: room %v, versions %v", err, p.Versions)
		}
		version := p.Versions[0]
		seq, known := p.Seq(0)
		return core.ComposeLatest(r.Context(), LatestInput{Room: room, Query: r.URL.Query(), Stored: p.Body, StoredETag: p.ETag,
			Version: version, Seq: seq, SeqKnown: known,
			Settle: func(seq int64) bool { return c.Settle(r.Context(), LatestTag(room), version, seq, p.Epoch) }})
	}
}

func startCachedInstance(t testing.TB, name, redisAddr string) *cachedInstance {
	t.Helper()
	newClient := func() redis.UniversalClient {
		return redis.NewClient(&redis.Options{Addr: redisAddr, DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	}
	in := startInstance(t, name, newClient())
	cacheRdb := newClient()
	t.Cleanup(func() { cacheRdb.Close() })
	c, err := cachemw.New(cachemw.Config{Storage: cachemw.NewRedis(cacheRdb, "chatgate:http:"), BreakerCooldown: 200 * time.Millisecond,
		Identify: func(r *http.Request) (string, bool) {
			claims, err := in.core.Signer.Verify(auth.FromRequest(r, false))
			return strconv.FormatInt(claims.UserID, 10), err == nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.core.AddTagInvalidator("http", c))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rt := cacheRoute(in.core, c, r); rt != nil {
			_ = c.Serve(w, r, rt, func(w http.ResponseWriter, r *http.Request) error { in.api.ServeHTTP(w, r); return nil })
			return
		}
		in.api.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(in.core.StopCaches)
	return &cachedInstance{instance: in, cache: c, url: srv.URL}
}

type apiReply struct {
	status int
	cache  string
	body   string
}

// publicHost sends every request with the public host: behind the load
// balancer every instance sees it, and it is part of the cache key.
type publicHost struct{}

func (publicHost) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Host = "chat.example"
	return http.DefaultTransport.RoundTrip(r)
}

var publicHostClient = &http.Client{Transport: publicHost{}}

// do is one call through chatclient, whatever its status.
func (ci *cachedInstance) do(t testing.TB, method, path, token string, body any) apiReply {
	t.Helper()
	c := chatclient.New(ci.url, chatclient.WithToken(token), chatclient.WithHTTPClient(publicHostClient))
	resp, err := c.Do(context.Background(), method, path, body, nil)
	if resp == nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return apiReply{resp.StatusCode, resp.Header.Get("X-Cache"), string(resp.Body)}
}

var cacheUserSeq atomic.Int64

func (ci *cachedInstance) register(t testing.TB, name string) (token string, id int64) {
	t.Helper()
	email := fmt.Sprintf("%s.%d.%d@cache.test", strings.ToLower(name), time.Now().UnixNano(), cacheUserSeq.Add(1))
	r := ci.do(t, "POST", "/api/auth/register", "", map[string]string{"name": name, "email": email, "password": "password-" + name})
	if r.status != 201 {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	var out struct {
		User  struct{ ID int64 }
		Token string
	}
	_ = json.Unmarshal([]byte(r.body), &out)
	return out.Token, out.User.ID
}

// TestCacheAcrossThreeInstances is the check: three instances on one
// Redis. MISS then HIT; a post on one is seen by the next GET on another;
// another user's token never gets the first user's response; membership
// changes reach every instance within 10 ms; Redis down means BYPASS, not
// errors.
func TestCacheAcrossThreeInstances(t *testing.T) {
	rs := testenv.StartRedis(t)
	a := startCachedInstance(t, "a", rs.Addr())
	b := startCachedInstance(t, "b", rs.Addr())
	c := startCachedInstance(t, "c", rs.Addr())
	ann, _ := a.register(t, "Ann")
	bob, _ := a.register(t, "Bob")
	r := a.do(t, "POST", "/api/rooms", ann, map[string]any{"name": "cache-cluster", "is_private": false})
	var room struct{ ID int64 }
	_ = json.Unmarshal([]byte(r.body), &room)
	path := fmt.Sprintf("/api/rooms/%d", room.ID)

	if r := a.do(t, "GET", path, ann, nil); r.cache != "MISS" {
		t.Fatalf("first GET: %+v", r)
	}
	if r := b.do(t, "GET", path, ann, nil); r.cache != "HIT" {
		t.Fatalf("GET on another instance: %+v", r)
	}
	if r := c.do(t, "GET", path, bob, nil); r.cache != "MISS" || !strings.Contains(r.body, `"joined":false`) {
		t.Fatalf("bob: %+v", r)
	}

	var worst time.Duration
	for i := 1; i <= 20; i++ {
		if r := a.do(t, "POST", path+"/messages", ann, map[string]string{"body": "m", "cid": fmt.Sprint("cid", i)}); r.status != 201 {
			t.Fatalf("post: %+v", r)
		}
		start := time.Now()
		for {
			r := b.do(t, "GET", path, ann, nil)
			if strings.Contains(r.body, fmt.Sprintf(`"message_count":%d`, i)) {
				break
			}
			if time.Since(start) > 100*time.Millisecond {
				t.Fatalf("instance b still shows %s 100ms after post %d", r.body, i)
			}
		}
		worst = max(worst, time.Since(start))
	}
	t.Logf("post on a -> fresh count on b: worst %v", worst)

	// Membership: Bob joins on c, reads messages on b, leaves on a; b and c
	// refuse him within 10 ms (the entity caches' invalidation channel).
	if r := c.do(t, "POST", path+"/join", bob, nil); r.status != 200 {
		t.Fatalf("join: %+v", r)
	}
	msgs := path + "/messages?limit=5"
	for _, in := range []*cachedInstance{b, c} {
		if r := in.do(t, "GET", msgs, bob, nil); r.status != 200 {
			t.Fatalf("bob reads after join: %+v", r)
		}
		if ok, err := in.core.isMember(context.Background(), room.ID, mustID(t, in, bob)); !ok || err != nil {
			t.Fatalf("membership after join: %v %v", ok, err)
		}
	}
	if r := a.do(t, "POST", path+"/leave", bob, nil); r.status != 200 {
		t.Fatalf("leave: %+v", r)
	}
	start := time.Now()
	for _, in := range []*cachedInstance{b, c} {
		for {
			ok, _ := in.core.isMember(context.Background(), room.ID, mustID(t, in, bob))
			if !ok {
				break
			}
			// 10 ms is the target; -race on a shared machine gets slack.
			if time.Since(start) > 100*time.Millisecond {
				t.Fatal("membership still cached 100ms after leave")
			}
			time.Sleep(100 * time.Microsecond)
		}
		if r := in.do(t, "GET", msgs, bob, nil); r.status != 403 {
			t.Fatalf("bob reads after leave: %+v", r)
		}
	}

	// Redis stops: 200 and BYPASS everywhere; back: HITs again.
	rs.Stop()
	for _, in := range []*cachedInstance{a, b, c} {
		for i := 0; i < 6; i++ {
			if r := in.do(t, "GET", path, ann, nil); r.status != 200 || r.cache != "BYPASS" {
				t.Fatalf("Redis down: %+v", r)
			}
		}
	}
	rs.Start()
	deadline := time.Now().Add(10 * time.Second)
	for _, in := range []*cachedInstance{a, b, c} {
		for {
			r := in.do(t, "GET", path, ann, nil)
			if r.status != 200 {
				t.Fatalf("after restart: %+v", r)
			}
			if r.cache == "HIT" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no HIT after Redis came back: %+v", r)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func mustID(t testing.TB, in *cachedInstance, token string) int64 {
	claims, err := in.core.Signer.Verify(token)
	if err != nil {
		t.Fatal(err)
	}
	return claims.UserID
}

// TestWarmUp fills the caches from the most active rooms within the budget.
func TestWarmUp(t *testing.T) {
	rs := testenv.StartRedis(t)
	a := startCachedInstance(t, "warm", rs.Addr())
	tok, _ := a.register(t, "Warm")
	for i := 0; i < 3; i++ {
		a.do(t, "POST", "/api/rooms", tok, map[string]any{"name": fmt.Sprint("warm", i)})
	}
	start := time.Now()
	if err := a.core.StartCaches(context.Background()); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Fatalf("warm-up took %v", took)
	}
	k := a.core.caches()
	if k.rooms.Len() < 3 || k.members.Len() < 3 || k.users.Len() < 1 || k.counts.Len() < 3 {
		t.Fatalf("after warm-up: rooms %d members %d users %d counts %d", k.rooms.Len(), k.members.Len(), k.users.Len(), k.counts.Len())
	}
	t.Logf("warm-up: %v, %d rooms", time.Since(start), k.rooms.Len())
}

// direct is GET path straight from the API, no cache in front.
func (ci *cachedInstance) direct(t testing.TB, path, token string) string {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	req.Host = "chat.example"
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	ci.api.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("direct %s: %d %s", path, rec.Code, rec.Body)
	}
	if cc := rec.Header().Get("Cache-Control"); path == "/api/rooms" && cc != "no-store" {
		t.Fatalf("the whole room list must never be stored: Cache-Control %q", cc)
	}
	return rec.Body.String()
}

type listedRoom struct {
	ID          int64 `json:"id"`
	Name        string
	Private     bool  `json:"is_private"`
	LastSeq     int64 `json:"last_seq"`
	Count       int64 `json:"message_count"`
	Members     int64 `json:"member_count"`
	Joined      bool  `json:"joined"`
	LastReadSeq int64 `json:"last_read_seq"`
}

func roomList(t testing.TB, body string) map[int64]listedRoom {
	t.Helper()
	var out struct{ Rooms []listedRoom }
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("room list %q: %v", body, err)
	}
	m := make(map[int64]listedRoom, len(out.Rooms))
	for _, r := range out.Rooms {
		m[r.ID] = r
	}
	return m
}

// TestRoomListComposed: the room list is one stored entry for everyone (the
// public rooms), composed per user and per answer: a post shows in the
// counters at once and does not drop the entry; joins, invitations,
// removals and read markers change the user's part at once; a non-member
// never gets a private room; the composed answer is the API's own.
func TestRoomListComposed(t *testing.T) {
	rs := testenv.StartRedis(t)
	a := startCachedInstance(t, "la", rs.Addr())
	b := startCachedInstance(t, "lb", rs.Addr())
	ann, _ := a.register(t, "Ann")
	bob, bobID := a.register(t, "Bob")
	mk := func(name string, private bool) int64 {
		r := a.do(t, "POST", "/api/rooms", ann, map[string]any{"name": name, "is_private": private})
		var room struct{ ID int64 }
		_ = json.Unmarshal([]byte(r.body), &room)
		return room.ID
	}
	pub, priv := mk("list-public", false), mk("list-private-"+strconv.FormatInt(time.Now().UnixNano(), 36), true)
	same := func(in *cachedInstance, tok string) map[int64]listedRoom {
		t.Helper()
		// Tests of other packages may create rooms in between: a few tries.
		for try := 0; ; try++ {
			r := in.do(t, "GET", "/api/rooms", tok, nil)
			if r.status != 200 {
				t.Fatalf("GET /api/rooms: %+v", r)
			}
			d := in.direct(t, "/api/rooms", tok)
			if d == r.body {
				return roomList(t, r.body)
			}
			if try == 2 {
				t.Fatalf("composed list differs from the API's:\n%s\n%s", r.body, d)
			}
		}
	}

	if r := a.do(t, "GET", "/api/rooms", ann, nil); r.cache != "MISS" {
		t.Fatalf("first list: %+v", r)
	}
	// Bob shares the entry, gets his own part, never Ann's private room.
	r := b.do(t, "GET", "/api/rooms", bob, nil)
	if r.cache != "HIT" || strings.Contains(r.body, "list-private") {
		t.Fatalf("bob's list: %+v", r)
	}
	if l := roomList(t, r.body); l[pub].Joined || l[pub].Members != 1 {
		t.Fatalf("bob's view of the public room: %+v", l[pub])
	}
	if l := same(a, ann); !l[priv].Joined || !l[priv].Private || !l[pub].Joined {
		t.Fatalf("ann's list: %+v", l)
	}

	// Posts: the counters move at once on the posting instance, within the
	// invalidation channel on the other; the entry stays.
	for i := int64(1); i <= 3; i++ {
		if r := a.do(t, "POST", fmt.Sprintf("/api/rooms/%d/messages", pub), ann, map[string]string{"body": "m", "cid": fmt.Sprint("l", i)}); r.status != 201 {
			t.Fatalf("post: %+v", r)
		}
		r := a.do(t, "GET", "/api/rooms", bob, nil)
		if l := roomList(t, r.body); r.cache != "HIT" || l[pub].LastSeq != i || l[pub].Count != i {
			t.Fatalf("after post %d on a: %+v", i, r)
		}
		start := time.Now()
		for {
			r := b.do(t, "GET", "/api/rooms", bob, nil)
			if roomList(t, r.body)[pub].LastSeq == i {
				break
			}
			if time.Since(start) > 100*time.Millisecond {
				t.Fatalf("b still shows %s 100ms after post %d", r.body, i)
			}
		}
	}
	same(a, ann)

	// Read marker, join, invitation, removal: the user's part at once.
	if r := a.do(t, "POST", fmt.Sprintf("/api/rooms/%d/read", pub), ann, map[string]int64{"seq": 2}); r.status != 200 {
		t.Fatalf("read: %+v", r)
	}
	if l := same(a, ann); l[pub].LastReadSeq != 2 {
		t.Fatalf("read marker: %+v", l[pub])
	}
	if r := a.do(t, "POST", fmt.Sprintf("/api/rooms/%d/join", pub), bob, nil); r.status != 200 {
		t.Fatalf("join: %+v", r)
	}
	if l := same(a, bob); !l[pub].Joined || l[pub].Members != 2 {
		t.Fatalf("bob after join: %+v", l[pub])
	}
	if l := same(a, ann); l[pub].Members != 2 {
		t.Fatalf("ann after bob's join: %+v", l[pub])
	}
	if r := a.do(t, "POST", fmt.Sprintf("/api/rooms/%d/members", priv), ann, map[string]int64{"user_id": bobID}); r.status != 200 {
		t.Fatalf("invite: %+v", r)
	}
	if l := same(a, bob); !l[priv].Joined || l[priv].Members != 2 {
		t.Fatalf("bob after the invitation: %+v", l[priv])
	}
	if r := a.do(t, "DELETE", fmt.Sprintf("/api/rooms/%d/members/%d", priv, bobID), ann, nil); r.status != 200 {
		t.Fatalf("remove: %+v", r)
	}
	if l := same(a, bob); l[priv].ID != 0 {
		t.Fatalf("bob still lists the private room after his removal: %+v", l[priv])
	}
	start := time.Now()
	for {
		r := b.do(t, "GET", "/api/rooms", bob, nil)
		if !strings.Contains(r.body, "list-private") {
			break
		}
		if time.Since(start) > 100*time.Millisecond {
			t.Fatalf("b still lists the private room to bob 100ms after his removal: %s", r.body)
		}
	}
	if l := same(a, ann); l[priv].Members != 1 {
		t.Fatalf("ann after the removal: %+v", l[priv])
	}
}
