package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
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
	ann, bob, _, room := liveRoom(t, a, b, "latest")
	path := fmt.Sprintf("/api/rooms/%d", room)
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
	_, versions, err := cachemw.NewRedis(a.core.Redis(), "chatgate:http:").Lookup(context.Background(), "x", []string{LatestTag(room), cachemw.EpochTag})
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

// liveRoom registers Ann and Bob on a, makes a private room of Ann's with
// Bob in it, and subscribes Bob to it over a WebSocket on b, so b's hub
// holds the room's recent frames (its ring).
func liveRoom(t *testing.T, a, b *cachedInstance, name string) (ann, bob string, bobID, room int64) {
	t.Helper()
	ann, _ = a.register(t, "Ann")
	bob, bobID = a.register(t, "Bob")
	r := a.do(t, "POST", "/api/rooms", ann, map[string]any{"name": name, "is_private": true})
	var created struct{ ID int64 }
	if r.status != 201 || json.Unmarshal([]byte(r.body), &created) != nil {
		t.Fatalf("create room: %+v", r)
	}
	if r := a.do(t, "POST", fmt.Sprintf("/api/rooms/%d/members", created.ID), ann, map[string]any{"user_id": bobID}); r.status/100 != 2 {
		t.Fatalf("invite: %+v", r)
	}
	conn, err := chatclient.New(b.url, chatclient.WithToken(bob), chatclient.WithDialer(websocket.DefaultDialer)).
		Dial(context.Background(), &chatclient.DialOptions{TokenInQuery: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Drop)
	if _, err := conn.Subscribe(context.Background(), created.ID, nil); err != nil {
		t.Fatal(err)
	}
	return ann, bob, bobID, created.ID
}

// TestLatestAfterEvents: room events change messages the newest page
// shows. Right after an event's 200 ACK on one instance, the newest page
// read on either instance (through the cache: the stored part, the
// previous page held per instance, the ring of the instance the reader is
// live on) is the API's own answer byte for byte and shows the edited
// text, the tombstone and the reactions; the event is on it as its newest
// entry. Events target messages of the stored part, of the part composed
// in (from the ring on b), and the newest message; posts follow events so
// runs holding both are composed too.
func TestLatestAfterEvents(t *testing.T) {
	rs := testenv.StartRedis(t)
	a := startCachedInstance(t, "ea", rs.Addr())
	b := startCachedInstance(t, "eb", rs.Addr())
	ann, bob, bobID, room := liveRoom(t, a, b, "latest-events")
	path := fmt.Sprintf("/api/rooms/%d", room)

	type entry struct {
		Type      string
		Seq       int64
		Target    int64
		Body      string
		EditedAt  string `json:"edited_at"`
		Deleted   bool
		Reactions []struct {
			Emoji string
			Users []int64
		}
	}
	pages := []string{path + "/messages", path + "/messages?limit=5"}
	// read checks the newest pages on in against the API and returns the
	// default page's entries by seq, and its newest seq.
	read := func(in *cachedInstance, who string) (map[int64]entry, int64) {
		t.Helper()
		var bySeq map[int64]entry
		var newest int64
		for i, p := range pages {
			got := in.do(t, "GET", p, who, nil)
			if direct := in.direct(t, p, who); got.status != 200 || got.body != direct {
				t.Fatalf("%s on %s: %d %s\n%s\nthe API says\n%s", p, inName(in), got.status, got.cache, got.body, direct)
			}
			if got.cache != "HIT" && got.cache != "MISS" {
				t.Fatalf("%s on %s: X-Cache %s", p, inName(in), got.cache)
			}
			t.Logf("%s on %s: %s", p, inName(in), got.cache)
			if i > 0 {
				continue
			}
			var page struct{ Messages []entry }
			if err := json.Unmarshal([]byte(got.body), &page); err != nil || len(page.Messages) == 0 {
				t.Fatalf("page on %s: %v %s", inName(in), err, got.body)
			}
			newest = page.Messages[0].Seq
			bySeq = make(map[int64]entry, len(page.Messages))
			for _, e := range page.Messages {
				bySeq[e.Seq] = e
			}
		}
		return bySeq, newest
	}
	post := func(in *cachedInstance, tok, body string) int64 {
		t.Helper()
		r := in.do(t, "POST", path+"/messages", tok, map[string]string{"body": body})
		var m struct{ Seq int64 }
		if r.status != 201 || json.Unmarshal([]byte(r.body), &m) != nil {
			t.Fatalf("post %q: %+v", body, r)
		}
		return m.Seq
	}
	event := func(in *cachedInstance, tok, method, p string, body any) int64 {
		t.Helper()
		r := in.do(t, method, p, tok, body)
		var ack struct{ Seq int64 }
		if r.status != 200 || json.Unmarshal([]byte(r.body), &ack) != nil || ack.Seq == 0 {
			t.Fatalf("%s %s: %+v", method, p, r)
		}
		return ack.Seq
	}
	// both reads on b and a, each after the other, and checks the page.
	both := func(what string, evSeq int64, ok func(map[int64]entry) bool) {
		t.Helper()
		for _, in := range []*cachedInstance{b, a, b, a} {
			got, newest := read(in, bob)
			if newest != evSeq || got[evSeq].Type == "message" {
				t.Fatalf("%s: newest entry on %s is seq %d %+v, want the event %d", what, inName(in), newest, got[newest], evSeq)
			}
			if !ok(got) {
				t.Fatalf("%s: page on %s: %+v", what, inName(in), got)
			}
		}
	}

	var seqs []int64
	for i := 1; i <= 8; i++ {
		in, tok := a, ann
		if i%2 == 0 {
			in, tok = b, bob
		}
		seqs = append(seqs, post(in, tok, fmt.Sprint("m", i)))
	}
	read(a, bob) // stored: m1..m8
	read(b, bob)
	for i := 9; i <= 11; i++ {
		seqs = append(seqs, post(a, ann, fmt.Sprint("m", i)))
	}
	read(b, bob) // composed on b from the ring: m9..m11 past the stored part
	read(a, bob)

	// An edit of a message of the stored part, on a.
	target := seqs[2] // m3, Ann's
	ev := event(a, ann, "PATCH", fmt.Sprintf("%s/messages/%d", path, target), map[string]string{"body": "m3 edited", "cid": "e1"})
	both("edit in the stored part", ev, func(p map[int64]entry) bool {
		return p[target].Body == "m3 edited" && p[target].EditedAt != "" && p[ev].Type == "edit" && p[ev].Target == target
	})

	// A reaction, on b, to a message composed in from b's ring.
	target = seqs[9] // m10
	ev = event(b, bob, "PUT", fmt.Sprintf("%s/messages/%d/reactions/:tada:", path, target), nil)
	both("reaction in the composed part", ev, func(p map[int64]entry) bool {
		rx := p[target].Reactions
		return len(rx) == 1 && rx[0].Emoji == ":tada:" && len(rx[0].Users) == 1 && rx[0].Users[0] == bobID && p[ev].Type == "reaction"
	})

	// Posts after the events (runs with events and messages), then a
	// delete of one of them on b and an edit of the newest on a.
	for i := 12; i <= 14; i++ {
		seqs = append(seqs, post(a, ann, fmt.Sprint("m", i)))
		read(b, bob)
	}
	target = seqs[12] // m13, Ann's: the owner deletes on b
	ev = event(a, ann, "DELETE", fmt.Sprintf("%s/messages/%d", path, target), nil)
	both("delete", ev, func(p map[int64]entry) bool {
		return p[target].Deleted && p[target].Body == "" && p[ev].Type == "delete"
	})
	newest := post(b, bob, "m15")
	read(a, bob)
	ev = event(b, bob, "PATCH", fmt.Sprintf("%s/messages/%d", path, newest), map[string]string{"body": "m15 edited", "cid": "e2"})
	both("edit of the newest", ev, func(p map[int64]entry) bool {
		return p[newest].Body == "m15 edited" && p[ev].Type == "edit"
	})

	// Unreact on a, then an earlier target stays as it was: m3 still
	// edited, m13 still a tombstone.
	ev = event(a, bob, "DELETE", fmt.Sprintf("%s/messages/%d/reactions/:tada:", path, seqs[9]), nil)
	both("reaction removed", ev, func(p map[int64]entry) bool {
		return len(p[seqs[9]].Reactions) == 0 && p[seqs[2]].Body == "m3 edited" && p[seqs[12]].Deleted
	})

	// Both instances then answer from the cache again.
	for _, in := range []*cachedInstance{a, b} {
		read(in, bob)
		for _, p := range pages {
			if got := in.do(t, "GET", p, ann, nil); got.cache != "HIT" {
				t.Fatalf("%s on %s after the events settled: %s", p, inName(in), got.cache)
			}
		}
	}
}

// TestLatestNewStoredPart: the page held for a version is answered again
// only on the stored part it was built on. A room event drops the stored
// part (history:R) without moving room:R's version when no post follows
// it, so a read of the same version on a new stored part (the edited
// message) must answer the new part, not the held page.
func TestLatestNewStoredPart(t *testing.T) {
	rs := testenv.StartRedis(t)
	in := startCachedInstance(t, "ns", rs.Addr())
	page := func(body2 string) []byte {
		return []byte(`{"has_more":false,"messages":[` +
			`{"type":"message","room":9,"seq":3,"user":{"id":1,"name":"a"},"body":"three","ts":"2026-01-01T00:00:03.000000Z"},` +
			`{"type":"message","room":9,"seq":2,"user":{"id":1,"name":"a"},"body":"` + body2 + `","ts":"2026-01-01T00:00:02.000000Z"},` +
			`{"type":"message","room":9,"seq":1,"user":{"id":1,"name":"a"},"body":"one","ts":"2026-01-01T00:00:01.000000Z"}]}` + "\n")
	}
	compose := func(stored []byte, etag string) string {
		t.Helper()
		body, _, err := in.core.ComposeLatest(context.Background(), LatestInput{Room: 9, Query: url.Values{"limit": {"50"}},
			Stored: stored, StoredETag: etag, Version: "v1", Seq: 3, SeqKnown: true})
		if err != nil {
			t.Fatal(err)
		}
		return string(body)
	}
	old, edited := page("two"), page("two, edited")
	if got := compose(old, `"a"`); got != string(old) {
		t.Fatalf("composed\n%s\nwant the stored page\n%s", got, old)
	}
	if got := compose(edited, `"b"`); got != string(edited) {
		t.Fatalf("same version, new stored part: composed\n%s\nwant\n%s", got, edited)
	}
	if n := in.core.caches().latest.same.Load(); n != 0 {
		t.Fatalf("the held page answered %d times", n)
	}
	if got := compose(edited, `"b"`); got != string(edited) || in.core.caches().latest.same.Load() != 1 {
		t.Fatalf("same version, same stored part: %s (held page used %d times)", got, in.core.caches().latest.same.Load())
	}
}
