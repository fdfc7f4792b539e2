package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/chatgate/chatgate/cachemw"
	"github.com/chatgate/chatgate/chatclient"
	"github.com/chatgate/chatgate/internal/testenv"
)

// TestLatestComposed: the newest page is stored once and composed per
// answer, so posts drop nothing: a post acknowledged (201) on one instance
// is on the next newest page read on the other, which is a HIT and the
// API's own answer byte for byte (pages of 50 and of 5, the ring and the
// indexed read); a membership change (which bumps the room's tag without
// a seq) is answered from Postgres' last seq and settled; a member who
// left gets 403, not the page; with Redis down the page is the API's, BYPASS.
func TestLatestComposed(t *testing.T) {
	rs := testenv.StartRedis(t)
	a := startCachedInstance(t, "la", rs.Addr())
	b := startCachedInstance(t, "lb", rs.Addr())
	ann, _ := a.register(t, "Ann")
	bob, _ := a.register(t, "Bob")
	r := a.do(t, "POST", "/api/rooms", ann, map[string]any{"name": "latest", "is_private": true})
	var room struct{ ID int64 }
	_ = json.Unmarshal([]byte(r.body), &room)
	path := fmt.Sprintf("/api/rooms/%d", room.ID)
	if r := a.do(t, "POST", path+"/members", ann, map[string]any{"user_id": mustID(t, a, bob)}); r.status/100 != 2 {
		t.Fatalf("invite: %+v", r)
	}
	pages := []string{path + "/messages?limit=50", path + "/messages?limit=5", path + "/messages"}
	check := func(in *cachedInstance, who string, want string) {
		t.Helper()
		for _, p := range pages {
			got := in.do(t, "GET", p, who, nil)
			if direct := in.direct(t, p, who); got.status != 200 || got.body != direct {
				t.Fatalf("%s on %s: %d %s\n%s\nthe API says\n%s", p, inName(in), got.status, got.cache, got.body, direct)
			}
			if want != "" && got.cache != want {
				t.Fatalf("%s on %s: X-Cache %s, want %s", p, inName(in), got.cache, want)
			}
		}
	}
	// Bob is live in the room on b: b's hub holds the recent frames.
	bobConn, err := chatclient.New(b.url, chatclient.WithToken(bob), chatclient.WithDialer(websocket.DefaultDialer)).
		Dial(context.Background(), &chatclient.DialOptions{TokenInQuery: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bobConn.Drop)
	if _, err := bobConn.Subscribe(context.Background(), room.ID, nil); err != nil {
		t.Fatal(err)
	}
	check(a, ann, "MISS")
	check(b, bob, "HIT")

	// Posts on either instance, read on the other at once: every read a
	// HIT (nothing dropped) and the page ends at the post.
	for i := 1; i <= 60; i++ {
		from, to, tok := a, b, ann
		if i%3 == 0 {
			from, to, tok = b, a, bob
		}
		if r := from.do(t, "POST", path+"/messages", tok, map[string]string{"body": fmt.Sprint("m", i), "cid": fmt.Sprint("c", i)}); r.status != 201 {
			t.Fatalf("post %d: %+v", i, r)
		}
		got := to.do(t, "GET", pages[0], bob, nil)
		var page struct {
			Messages []struct{ Seq int64 }
		}
		_ = json.Unmarshal([]byte(got.body), &page)
		if got.cache != "HIT" || len(page.Messages) == 0 || page.Messages[0].Seq != int64(i) {
			t.Fatalf("post %d on %s, newest page on %s: %s %s", i, inName(from), inName(to), got.cache, got.body)
		}
		if i%7 == 0 {
			check(to, ann, "HIT")
			check(from, bob, "HIT")
		}
	}

	la, lb := &a.core.caches().latest, &b.core.caches().latest
	t.Logf("answers on a: same version %d, ring %d, indexed read %d, whole page %d", la.same.Load(), la.ring.Load(), la.after.Load(), la.whole.Load())
	t.Logf("answers on b: same version %d, ring %d, indexed read %d, whole page %d", lb.same.Load(), lb.ring.Load(), lb.after.Load(), lb.whole.Load())
	if lb.ring.Load() == 0 || la.after.Load() == 0 || la.same.Load()+lb.same.Load() == 0 {
		t.Fatal("the ring (b), the indexed read (a) and the held page should all have answered")
	}

	// A burst on a alone, then b: the indexed read (b's
	// previous page is 10 behind) and a's previous page.
	for i := 61; i <= 70; i++ {
		if r := a.do(t, "POST", path+"/messages", ann, map[string]string{"body": fmt.Sprint("m", i)}); r.status != 201 {
			t.Fatalf("post %d: %+v", i, r)
		}
	}
	check(b, bob, "HIT")
	check(a, ann, "HIT")

	// A member joins: the stored page goes (members:R) and the room's tag
	// loses its seq; the next answers come from Postgres' last seq, then
	// the tag is settled and carries it again.
	carol, _ := a.register(t, "Carol")
	if r := a.do(t, "POST", path+"/members", ann, map[string]any{"user_id": mustID(t, a, carol)}); r.status/100 != 2 {
		t.Fatalf("invite carol: %+v", r)
	}
	check(b, carol, "")
	check(a, carol, "HIT")
	_, versions, err := cachemw.NewRedis(a.core.Redis(), "chatgate:http:").Lookup(context.Background(), "x", []string{LatestTag(room.ID), cachemw.EpochTag})
	if err != nil {
		t.Fatal(err)
	}
	if seq, ok := cachemw.VersionSeq(versions[0], versions[1]); !ok || seq != 70 {
		t.Fatalf("room tag after a membership change and a read: %q, want seq 70", versions[0])
	}

	// Bob leaves on a: 403 on both, never the cached page.
	if r := a.do(t, "POST", path+"/leave", bob, nil); r.status != 200 {
		t.Fatalf("leave: %+v", r)
	}
	for _, in := range []*cachedInstance{a, b} {
		for _, p := range pages {
			if r := in.do(t, "GET", p, bob, nil); r.status != 403 {
				t.Fatalf("bob after leaving, %s on %s: %+v", p, inName(in), r)
			}
		}
	}

	// Redis stops: the API's page, BYPASS; a post still shows.
	rs.Stop()
	if r := a.do(t, "POST", path+"/messages", ann, map[string]string{"body": "down"}); r.status != 201 {
		t.Fatalf("post with Redis down: %+v", r)
	}
	for _, in := range []*cachedInstance{a, b} {
		for i := 0; i < 3; i++ {
			check(in, ann, "BYPASS")
		}
	}
}

func inName(in *cachedInstance) string { return in.url }
