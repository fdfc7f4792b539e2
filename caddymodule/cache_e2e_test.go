package caddymodule_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chatgate/chatgate/chatclient"
	"github.com/chatgate/chatgate/internal/testenv"
)

// shippedCacheBlocks returns the matchers and chat_cache blocks of the
// shipped Caddyfile, which the cache tests run exactly.
func shippedCacheBlocks(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile("../Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	start := strings.Index(s, "\t\t@me {")
	end := strings.Index(s, "\t\tchat {")
	if start < 0 || end < start {
		t.Fatal("no chat_cache blocks (from @me to chat) in the shipped Caddyfile")
	}
	return s[start:end]
}

const cacheTestDSN = "postgres://postgres@127.0.0.1:5432/chatgate_test_cache?sslmode=disable"

// startCacheServer runs the cached site, and the same API uncached on
// another port (for benchmarks), on the test's own Redis.
func startCacheServer(t testing.TB) (*server, *testenv.Redis, string) {
	return startCacheServerWith(t, cacheServerOpts{})
}

// cacheServerOpts vary startCacheServer's config.
type cacheServerOpts struct {
	// memory: no Redis at all (one node; the cache in memory).
	memory bool
	// handler is the body of both sites' chat handler blocks (e.g.
	// limits).
	handler string
}

func startCacheServerWith(t testing.TB, o cacheServerOpts) (*server, *testenv.Redis, string) {
	t.Helper()
	testenv.EnsureDB(t, "chatgate_test_cache")
	var rs *testenv.Redis
	redisLine := ""
	if !o.memory {
		rs = testenv.StartRedis(t)
		redisLine = fmt.Sprintf("redis redis://127.0.0.1:%d/0", rs.Port)
	}
	s := newServer(t)
	uncached := freePort(t)
	cfg := fmt.Sprintf(`{
	admin 127.0.0.1:%d
	metrics
	chat {
		postgres %s
		%s
		secret %s
		password_memory_kib 1024
		password_time 1
	}
}
http://:%d {
	encode zstd gzip
	@chat path /api /api/* /ws /healthz /readyz
	handle @chat {
%s
		chat {
			%s
		}
	}
	handle /metrics {
		metrics
	}
}
http://:%d {
	encode zstd gzip
	@chat path /api /api/* /ws /healthz /readyz
	handle @chat {
		chat {
			%s
		}
	}
}
`, s.admin, cacheTestDSN, redisLine, testSecret, s.port, shippedCacheBlocks(t), o.handler, uncached, o.handler)
	s.start(t, cfg)
	return s, rs, fmt.Sprintf("http://127.0.0.1:%d", uncached)
}

func xcache(r reply) string { return r.header.Get("X-Cache") }

func TestResponseCacheThroughCaddy(t *testing.T) {
	s, rs, _ := startCacheServer(t)
	ann, bob := s.register(t, "Ann"), s.register(t, "Bob")
	room := ann.createRoom(t, "cached", false)
	path := fmt.Sprintf("/api/rooms/%d", room)

	// MISS then HIT, with Age and Cache-Status.
	if r := ann.call(t, "GET", path, nil); r.status != 200 || xcache(r) != "MISS" {
		t.Fatalf("first GET: %d %s %s", r.status, xcache(r), r.body)
	}
	r := ann.call(t, "GET", path, nil)
	if xcache(r) != "HIT" || r.header.Get("Age") == "" || !strings.Contains(r.header.Get("Cache-Status"), "hit") {
		t.Fatalf("second GET: %s %v", xcache(r), r.header)
	}
	if !strings.Contains(string(r.body), `"joined":true`) {
		t.Fatalf("ann's room: %s", r.body)
	}
	// Bob, not a member, never gets the members' entry ("joined":true).
	r = bob.call(t, "GET", path, nil)
	if xcache(r) != "BYPASS" || !strings.Contains(string(r.body), `"joined":false`) {
		t.Fatalf("bob's room: %s %s", xcache(r), r.body)
	}
	// No token: bypass, and the API's 401.
	if r := s.call(t, "GET", path, "", nil); r.status != 401 || xcache(r) != "BYPASS" {
		t.Fatalf("anonymous: %d %s", r.status, xcache(r))
	}

	// A post, then a read: the new count at once. The entry stays (it
	// holds no counters; they are composed into every answer).
	if r := ann.call(t, "POST", path+"/messages", map[string]string{"body": "hi", "cid": "c1"}); r.status != 201 {
		t.Fatalf("post: %d %s", r.status, r.body)
	}
	r = ann.call(t, "GET", path, nil)
	if xcache(r) != "HIT" || !strings.Contains(string(r.body), `"message_count":1`) || !strings.Contains(string(r.body), `"last_seq":1`) {
		t.Fatalf("after post: %s %s", xcache(r), r.body)
	}
	msgs := path + "/messages?limit=10"
	waitCached(t, ann, msgs, `"body":"hi"`)
	// Bob joins: Ann's member list shows him at once.
	members := path + "/members"
	ann.call(t, "GET", members, nil)
	bob.join(t, room)
	if r := ann.call(t, "GET", members, nil); xcache(r) != "MISS" || !strings.Contains(string(r.body), `"Bob"`) {
		t.Fatalf("members after join: %s %s", xcache(r), r.body)
	}
	// Members share messages and member lists: Bob is served Ann's entries.
	if r := bob.call(t, "GET", members, nil); xcache(r) != "HIT" || !strings.Contains(string(r.body), `"Bob"`) {
		t.Fatalf("members, shared: %s %s", xcache(r), r.body)
	}
	ann.call(t, "GET", msgs, nil) // (the join dropped the room's pages)
	if r := bob.call(t, "GET", msgs, nil); xcache(r) != "HIT" || !strings.Contains(string(r.body), `"body":"hi"`) {
		t.Fatalf("messages, shared: %s %s", xcache(r), r.body)
	}
	// A private room's shared entries never reach a non-member.
	secret := ann.createRoom(t, "secret", true)
	secretMsgs := fmt.Sprintf("/api/rooms/%d/messages?limit=10", secret)
	ann.call(t, "POST", fmt.Sprintf("/api/rooms/%d/messages", secret), map[string]string{"body": "for members", "cid": "s1"})
	waitCached(t, ann, secretMsgs, `"for members"`)
	for _, p := range []string{secretMsgs, fmt.Sprintf("/api/rooms/%d/members", secret), fmt.Sprintf("/api/rooms/%d/messages?before=2", secret)} {
		ann.call(t, "GET", p, nil)
		if r := bob.call(t, "GET", p, nil); r.status != 403 || xcache(r) != "BYPASS" || strings.Contains(string(r.body), "for members") {
			t.Fatalf("non-member on %s: %d %s %s", p, r.status, xcache(r), r.body)
		}
	}
	// Bob reads a history page, leaves, and is refused at once.
	hist := path + "/messages?before=2" // wholly below the newest: immutable
	bob.call(t, "GET", hist, nil)
	if r := bob.call(t, "GET", hist, nil); xcache(r) != "HIT" {
		t.Fatalf("history: %s", xcache(r))
	}
	if r := bob.call(t, "POST", path+"/leave", nil); r.status != 200 {
		t.Fatalf("leave: %d", r.status)
	}
	if r := bob.call(t, "GET", hist, nil); r.status != 403 {
		t.Fatalf("history after leave: %d %s %s", r.status, xcache(r), r.body)
	}

	// Compression happens after the cache: a gzip client and an identity
	// client share one (identity) entry. (encode skips bodies < 512 bytes.)
	for i := 0; i < 3; i++ {
		ann.call(t, "POST", path+"/messages", map[string]string{"body": strings.Repeat("long message ", 30), "cid": fmt.Sprint("long", i)})
	}
	// The first read after the posts stores the page (each REST post's tag
	// bump is done before its 201); retry the pair until the second is the
	// HIT of what the first stored.
	for try := 0; ; try++ {
		plain := gzipGet(t, s.base+msgs, ann.token)
		r = ann.call(t, "GET", msgs, nil)
		if xcache(r) == "HIT" && r.header.Get("Content-Encoding") == "" && bytes.Equal(r.body, plain) {
			break
		}
		if try == 20 {
			t.Fatalf("identity client after gzip client: %s %q", xcache(r), r.header.Get("Content-Encoding"))
		}
		time.Sleep(10 * time.Millisecond)
	}

	// HEAD from the GET entry, and a conditional GET answered 304.
	ann.call(t, "GET", path, nil)
	r = ann.call(t, "HEAD", path, nil)
	if xcache(r) != "HIT" || len(r.body) != 0 {
		t.Fatalf("HEAD: %s %d bytes", xcache(r), len(r.body))
	}
	etag := r.header.Get("ETag")
	cond, err := replyOf(s.api(ann.token, chatclient.WithHeader(http.Header{"If-None-Match": {etag}})).Do(context.Background(), "GET", path, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if etag == "" || cond.status != 304 {
		t.Fatalf("conditional GET with %q: %d", etag, cond.status)
	}

	// Redis stops: still 200, BYPASS; Redis back: HITs resume.
	rs.Stop()
	for i := 0; i < 20; i++ {
		r := ann.call(t, "GET", path, nil)
		if r.status != 200 || xcache(r) != "BYPASS" {
			t.Fatalf("Redis down, GET %d: %d %s %s", i, r.status, xcache(r), r.body)
		}
	}
	rs.Start()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := ann.call(t, "GET", path, nil)
		if r.status != 200 {
			t.Fatalf("after Redis restart: %d %s", r.status, r.body)
		}
		if xcache(r) == "HIT" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no HIT 10s after Redis came back: %s", r.header.Get("Cache-Status"))
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Metrics: per-route results and the breaker state.
	body := s.call(t, "GET", "/metrics", "", nil).body
	for _, want := range []string{`chatgate_http_cache_requests_total{cache="redis",result="hit",route="room"}`,
		`chatgate_cache_breaker_state{cache="redis"} 0`, `chatgate_redis_duration_seconds_bucket{command="http_cache_lookup"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestRoomListThroughCaddy: GET /api/rooms is one stored entry for every
// user (compose room_list): the answer is the uncached API's, byte for byte;
// a post shows in the counters at once and keeps the entry; joins and
// removals change the user's part at once; a non-member never gets a
// private room.
func TestRoomListThroughCaddy(t *testing.T) {
	s, _, uncached := startCacheServer(t)
	ann, bob := s.register(t, "Ann"), s.register(t, "Bob")
	pub := ann.createRoom(t, "listed", false)
	secretName := fmt.Sprintf("hidden-%d", time.Now().UnixNano())
	priv := ann.createRoom(t, secretName, true)
	plain := func(c *client) string {
		t.Helper()
		r, err := replyOf(chatclient.New(uncached, chatclient.WithToken(c.token)).Do(context.Background(), "GET", "/api/rooms", nil, nil))
		if err != nil {
			t.Fatal(err)
		}
		return string(r.body)
	}
	// list reads the cached list and checks it against the uncached API's
	// (other tests may add rooms in between: a few tries).
	list := func(c *client, want string) reply {
		t.Helper()
		for try := 0; ; try++ {
			r := c.call(t, "GET", "/api/rooms", nil)
			if r.status != 200 || (want != "" && xcache(r) != want) {
				t.Fatalf("GET /api/rooms: %d %s %s", r.status, xcache(r), r.body)
			}
			if p := plain(c); p == string(r.body) {
				return r
			} else if try == 2 {
				t.Fatalf("cached list differs from the API's:\n%s\n%s", r.body, p)
			}
		}
	}
	list(ann, "")
	r := list(bob, "HIT")
	if strings.Contains(string(r.body), secretName) {
		t.Fatalf("bob got the private room: %s", r.body)
	}
	for i := 1; i <= 3; i++ {
		if r := ann.call(t, "POST", fmt.Sprintf("/api/rooms/%d/messages", pub), map[string]string{"body": "x", "cid": fmt.Sprint("l", i)}); r.status != 201 {
			t.Fatalf("post: %d %s", r.status, r.body)
		}
		r := list(bob, "HIT")
		if !strings.Contains(string(r.body), fmt.Sprintf(`"id":%d,"name":"listed","is_private":false,"created_by":%d`, pub, ann.id)) ||
			!strings.Contains(string(r.body), fmt.Sprintf(`"last_seq":%d,"member_count":1,"message_count":%d,"joined":false`, i, i)) {
			t.Fatalf("after post %d: %s", i, r.body)
		}
	}
	bob.join(t, pub)
	if r := list(bob, "MISS"); !strings.Contains(string(r.body), `"last_seq":3,"member_count":2,"message_count":3,"joined":true`) {
		t.Fatalf("bob after joining: %s", r.body)
	}
	if r := ann.call(t, "POST", fmt.Sprintf("/api/rooms/%d/members", priv), map[string]int64{"user_id": bob.id}); r.status != 200 {
		t.Fatalf("invite: %d %s", r.status, r.body)
	}
	if r := list(bob, ""); !strings.Contains(string(r.body), secretName) {
		t.Fatalf("bob after the invitation: %s", r.body)
	}
	if r := ann.call(t, "DELETE", fmt.Sprintf("/api/rooms/%d/members/%d", priv, bob.id), nil); r.status != 200 {
		t.Fatalf("remove: %d %s", r.status, r.body)
	}
	if r := list(bob, ""); strings.Contains(string(r.body), secretName) {
		t.Fatalf("bob still gets the private room after his removal: %s", r.body)
	}
	list(ann, "")
}

// TestHistoryPageAboveNewest: a ?before= page that reaches past the newest
// message is the newest page, which the next message changes. It was
// cached as an immutable history page (keyed to membership only), and a
// client jumping to the end saw a stale room; now only pages wholly below
// the newest message are stored by a history route.
func TestHistoryPageAboveNewest(t *testing.T) {
	s, _, _ := startCacheServer(t)
	ann := s.register(t, "Ann")
	room := ann.createRoom(t, "growing", false)
	post := func(body string) {
		if r := ann.call(t, "POST", fmt.Sprintf("/api/rooms/%d/messages", room), map[string]string{"body": body, "cid": body}); r.status != 201 {
			t.Fatalf("post: %d %s", r.status, r.body)
		}
	}
	post("one")
	post("two")
	above := fmt.Sprintf("/api/rooms/%d/messages?before=1000&limit=10", room)
	below := fmt.Sprintf("/api/rooms/%d/messages?before=3&limit=10", room)
	ann.call(t, "GET", above, nil)
	if r := ann.call(t, "GET", above, nil); xcache(r) == "HIT" {
		t.Fatalf("the page above the newest message was stored as history: %s", r.body)
	}
	ann.call(t, "GET", below, nil)
	if r := ann.call(t, "GET", below, nil); xcache(r) != "HIT" {
		t.Fatalf("a page below the newest message not cached: %s", xcache(r))
	}
	post("three")
	if r := ann.call(t, "GET", above, nil); !strings.Contains(string(r.body), `"body":"three"`) {
		t.Fatalf("page above the newest after a post: %s %s", xcache(r), r.body)
	}
	// A page wholly below the newest never changes: still a hit.
	if r := ann.call(t, "GET", below, nil); xcache(r) != "HIT" || strings.Contains(string(r.body), `"three"`) {
		t.Fatalf("page below the newest after a post: %s %s", xcache(r), r.body)
	}
}

// waitCached reads path until it is a HIT holding want: the first read
// after a write stores the page, the next one hits it, and the entry then
// stays until the next write.
func waitCached(t *testing.T, c *client, path, want string) {
	t.Helper()
	for try := 0; ; try++ {
		c.call(t, "GET", path, nil)
		r := c.call(t, "GET", path, nil)
		if xcache(r) == "HIT" && strings.Contains(string(r.body), want) {
			return
		}
		if try == 20 {
			t.Fatalf("%s never cached: %s %s", path, xcache(r), r.body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// gzipGet reads url as a gzip-accepting client and returns the body
// decompressed; the answer must be compressed.
func gzipGet(t *testing.T, url, token string) []byte {
	t.Helper()
	// The transport's own gzip handling off: the body stays compressed.
	api := chatclient.New("", chatclient.WithToken(token), chatclient.WithHeader(http.Header{"Accept-Encoding": {"gzip"}}),
		chatclient.WithHTTPClient(&http.Client{Transport: &http.Transport{DisableCompression: true}}))
	resp, err := replyOf(api.Do(context.Background(), "GET", url, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if resp.header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("gzip client got Content-Encoding %q (%s)", resp.header.Get("Content-Encoding"), resp.header.Get("X-Cache"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(resp.body))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return plain
}
