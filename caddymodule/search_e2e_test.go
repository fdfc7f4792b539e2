package caddymodule_test

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chatgate/chatgate/internal/testenv"
)

// searchAnswer is GET /api/search's body.
type searchAnswer struct {
	Results []struct {
		Message struct {
			Room, Seq int64
			Body      string
		}
		Snippet []struct {
			Text  string
			Match bool
		}
	}
	Next string
}

// TestSearchThroughBinary runs two instances of the real binary
// (search_language and search_rate from its Caddyfile) on a database and a
// Redis of their own, on ports of this test's own: results only from the
// caller's rooms, a room left on one instance gone from the next search on
// the other, complete and stable paging, 400s for bad queries and 429 past
// the search rate.
func TestSearchThroughBinary(t *testing.T) {
	dsn := testenv.FreshDB(t, "chatgate_test_search_e2e")
	rs := testenv.StartRedis(t)
	bin := testenv.BuildGateway(t)
	// Two instances of one deployment (one database, one Redis), on ports
	// of this test's own.
	start := func(port int) *server {
		s := &server{port: port, admin: port + 1}
		s.base = fmt.Sprintf("http://127.0.0.1:%d", s.port)
		dir := t.TempDir()
		cfg := testenv.WriteFile(t, dir, "Caddyfile", fmt.Sprintf(`{
	admin 127.0.0.1:%d
	chat {
		postgres %s
		redis %s
		secret %s
		password_memory_kib 1024
		password_time 1
		search_language english
	}
}
http://127.0.0.1:%d {
	@chat path /api /api/* /ws /healthz /readyz
	handle @chat {
		chat {
			search_rate 1/h 40
			auth_ip_rate off
			ip_request_rate off
			user_request_rate off
			user_send_rate off
		}
	}
}
`, s.admin, dsn, rs.URL(), testSecret, s.port))
		testenv.Start(t, filepath.Join(dir, "run"), "gateway", nil, bin, "run", "--config", cfg, "--adapter", "caddyfile")
		return s
	}
	s, s2 := start(18801), start(18803)
	waitReady(t, s.base)
	waitReady(t, s2.base)

	ann, bob, carol := s.register(t, "Ann"), s.register(t, "Bob"), s.register(t, "Carol")
	shared := ann.createRoom(t, "shared", false)
	bob.join(t, shared)
	bobs := bob.createRoom(t, "bobs", false)
	private := ann.createRoom(t, "private", true)
	post := func(c *client, room int64, body string) int64 {
		t.Helper()
		r := c.call(t, "POST", fmt.Sprintf("/api/rooms/%d/messages", room), map[string]string{"body": body})
		if r.status != 201 {
			t.Fatalf("post: %d %s", r.status, r.body)
		}
		var m struct{ Seq int64 }
		r.decode(t, &m)
		return m.Seq
	}
	post(ann, shared, "an apple pie recipe")
	post(ann, private, "the apple of my eye, private")
	post(bob, bobs, `apples and <script>alert("x")</script> juice`)

	search := func(c *client, query string) (reply, searchAnswer) {
		t.Helper()
		r := c.call(t, "GET", "/api/search?"+query, nil)
		var a searchAnswer
		if r.status == 200 {
			r.decode(t, &a)
		}
		return r, a
	}
	rooms := func(a searchAnswer) []int64 {
		var out []int64
		for _, h := range a.Results {
			out = append(out, h.Message.Room)
		}
		return out
	}

	r, a := search(bob, "q=apple")
	if r.status != 200 || !slices.Equal(rooms(a), []int64{bobs, shared}) || a.Next != "" {
		t.Fatalf("bob's apples: %d %s", r.status, r.body)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("Cache-Control %q", cc)
	}
	var matched []string
	for _, p := range a.Results[0].Snippet {
		if p.Match {
			matched = append(matched, p.Text)
		}
	}
	if !slices.Equal(matched, []string{"apples"}) || !strings.Contains(a.Results[0].Message.Body, "<script>") {
		t.Fatalf("snippet %+v of %q", a.Results[0].Snippet, a.Results[0].Message.Body)
	}
	if _, a := search(ann, "q=apple"); !slices.Equal(rooms(a), []int64{private, shared}) {
		t.Fatalf("ann's apples: %v", rooms(a))
	}
	if _, a := search(bob, fmt.Sprintf("q=apple&room=%d", shared)); !slices.Equal(rooms(a), []int64{shared}) {
		t.Fatalf("bob's apples in the shared room: %v", rooms(a))
	}
	for query, want := range map[string]string{
		fmt.Sprintf("q=apple&room=%d", private): "403 forbidden",
		"q=apple&room=999999":                   "404 not_found",
	} {
		if r, _ := search(bob, query); fmt.Sprint(r.status, " ", r.errCode(t)) != want {
			t.Fatalf("%s: %d %s, want %s", query, r.status, r.body, want)
		}
	}

	// Leaving on one instance takes the room's messages out of the next
	// search on the other at once: membership is read by the search's own
	// statement, whatever the instance's caches still hold.
	bobOn2 := &client{s: s2, token: bob.token, id: bob.id, name: bob.name}
	if _, a := search(bobOn2, fmt.Sprintf("q=apple&room=%d", shared)); !slices.Equal(rooms(a), []int64{shared}) {
		t.Fatalf("bob on instance 2 before leaving: %v", rooms(a))
	}
	if r := bob.call(t, "POST", fmt.Sprintf("/api/rooms/%d/leave", shared), nil); r.status != 200 {
		t.Fatalf("leave: %d %s", r.status, r.body)
	}
	for _, c := range []*client{bobOn2, bob} {
		if _, a := search(c, "q=apple"); !slices.Equal(rooms(a), []int64{bobs}) {
			t.Fatalf("after leaving, on %s: %v", c.s.base, rooms(a))
		}
		// Filtered by the left room: 403 once the membership cache has
		// heard of the leave, an empty page before; never a result.
		if r, a := search(c, fmt.Sprintf("q=apple&room=%d", shared)); !(r.status == 403 || (r.status == 200 && len(a.Results) == 0)) {
			t.Fatalf("after leaving, filtered, on %s: %d %s", c.s.base, r.status, r.body)
		}
	}

	// Paging: 25 bananas in pages of 10, newest first, each once, also
	// with a banana posted between pages.
	var want []int64
	for i := 0; i < 25; i++ {
		want = append([]int64{post(bob, bobs, fmt.Sprintf("banana number %d", i))}, want...)
	}
	var got []int64
	query := "q=banana&limit=10"
	for page := 0; ; page++ {
		r, a := search(bob, query)
		if r.status != 200 {
			t.Fatalf("page %d: %d %s", page, r.status, r.body)
		}
		for _, h := range a.Results {
			got = append(got, h.Message.Seq)
		}
		if page == 0 {
			post(bob, bobs, "a late banana")
		}
		if a.Next == "" {
			break
		}
		if len(a.Results) != 10 || page > 3 {
			t.Fatalf("page %d: %d results, next %q", page, len(a.Results), a.Next)
		}
		query = "q=banana&limit=10&before=" + url.QueryEscape(a.Next)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("pages %v, want %v", got, want)
	}

	// Bad queries: 400 bad_request naming what is wrong.
	cursor := func(s string) string { return url.QueryEscape(base64.RawURLEncoding.EncodeToString([]byte(s))) }
	for query, msg := range map[string]string{
		"":                                      "q is required",
		"q=%20%20":                              "q is required",
		"q=" + strings.Repeat("a", 257):         "q is too long",
		"q=%FF":                                 "q must be UTF-8",
		"q=a%00b":                               "q must be UTF-8",
		"q=the":                                 "q: the query has no words",
		"q=-apple":                              "q: the query needs a word that is not excluded",
		"q=apple&before=zzz!":                   "before must be a cursor",
		"q=apple&before=" + cursor("s1.1.2.-3"): "before must be a cursor",
		"q=apple&before=" + cursor("s2.1.2.3"):  "before must be a cursor",
		"q=apple&limit=0":                       "limit must be",
		"q=apple&limit=51":                      "limit must be",
		"q=apple&room=x":                        "room must be",
	} {
		r, _ := search(carol, query)
		if r.status != 400 || r.errCode(t) != "bad_request" || !strings.Contains(string(r.body), msg) {
			t.Errorf("%q: %d %s, want 400 %q", query, r.status, r.body, msg)
		}
	}

	// The search rate: 40 at once per user, then 429 with Retry-After;
	// another user still searches. Of carol's bad queries only the two the
	// database refused (q=the, q=-apple) counted; the others were refused
	// before any work.
	for i := 0; i < 38; i++ {
		if r, _ := search(carol, "q=apple"); r.status != 200 {
			t.Fatalf("search %d: %d %s", i, r.status, r.body)
		}
	}
	r, _ = search(carol, "q=apple")
	if r.status != 429 || r.errCode(t) != "rate_limited" || r.header.Get("Retry-After") == "" {
		t.Fatalf("past the search rate: %d %s %v", r.status, r.body, r.header)
	}
	if r, _ := search(ann, "q=apple"); r.status != 200 {
		t.Fatalf("ann after carol's limit: %d %s", r.status, r.body)
	}
}
