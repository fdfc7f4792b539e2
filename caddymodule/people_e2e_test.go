package caddymodule_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatgate/chatgate/chatclient"
)

// wantErr checks an error answer: its status, its code, and the shape
// PROTOCOL.md documents.
func wantAPIErr(t testing.TB, what string, r reply, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: %d %s, want %d %s", what, r.status, r.body, status, code)
	}
	if got := r.errCode(t); got != code {
		t.Fatalf("%s: code %q (%s), want %q", what, got, r.body, code)
	}
	if status == http.StatusTooManyRequests && r.header.Get("Retry-After") == "" {
		t.Fatalf("%s: 429 without Retry-After", what)
	}
}

func wantStatus(t testing.TB, what string, r reply, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: %d %s, want %d", what, r.status, r.body, status)
	}
}

type dirPage struct {
	Users []struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	} `json:"users"`
	Next string `json:"next"`
}

func (c *client) search(t testing.TB, query string) (dirPage, reply) {
	t.Helper()
	r := c.call(t, "GET", "/api/users?"+query, nil)
	wantStatus(t, "search "+query, r, 200)
	var p dirPage
	r.decode(t, &p)
	return p, r
}

func (p dirPage) names() []string {
	var out []string
	for _, u := range p.Users {
		out = append(out, u.Name)
	}
	return out
}

// TestPeople runs issue 15's verbs through two instances of the real
// binary on the shipped Caddyfile.
func TestPeople(t *testing.T) {
	gws := startPeopleCluster(t, "chatgate_test_people", 2, "CHATGATE_USER_SEARCH_RATE=1/s 30")
	a, b := gws[0], gws[1]
	t.Run("directory", func(t *testing.T) { testDirectory(t, a, b) })
	t.Run("direct messages", func(t *testing.T) { testDirectMessages(t, a, b) })
	t.Run("room administration", func(t *testing.T) { testRoomAdmin(t, a, b) })
}

func testDirectory(t *testing.T, a, b *server) {
	ann := registerNamed(t, a, "Zoë Ångström")
	registerNamed(t, a, "zoe smith")
	registerNamed(t, a, "ZOE-2")
	registerNamed(t, a, "Straße")
	registerNamed(t, a, "Σοφία")
	var pagers []string
	for i := 0; i < 12; i++ {
		c := registerNamed(t, b, fmt.Sprintf("Pager %02d", i))
		pagers = append(pagers, c.name)
	}

	// Case-insensitive, any script; ids and names only, never an e-mail.
	p, r := ann.search(t, "q=ZOE")
	if got := p.names(); !slices.Equal(got, []string{"zoe smith", "ZOE-2"}) {
		t.Fatalf("q=ZOE: %q", got)
	}
	if strings.Contains(string(r.body), "@") || strings.Contains(string(r.body), "email") {
		t.Fatalf("the directory leaks e-mails: %s", r.body)
	}
	for q, want := range map[string][]string{
		"zoë": {"Zoë Ångström"}, "ZOË Å": {"Zoë Ångström"}, "strasse": {"Straße"}, "ΣΟΦ": {"Σοφία"}, "nobody": nil,
	} {
		if p, _ := ann.search(t, "q="+url.QueryEscape(q)); !slices.Equal(p.names(), want) {
			t.Errorf("q=%s: %q, want %q", q, p.names(), want)
		}
	}

	// Pages: limit and the keyset cursor, on either instance.
	var all []string
	cursor := ""
	for page := 0; ; page++ {
		s := a
		if page%2 == 1 {
			s = b
		}
		bob := &client{s: s, token: ann.token, id: ann.id}
		p, _ := bob.search(t, "q=pager&limit=5&cursor="+url.QueryEscape(cursor))
		all = append(all, p.names()...)
		if p.Next == "" {
			break
		}
		if len(p.Users) != 5 || page > 3 {
			t.Fatalf("page %d: %q", page, p.names())
		}
		cursor = p.Next
	}
	if !slices.Equal(all, pagers) {
		t.Fatalf("paged: %q, want %q", all, pagers)
	}

	// Cached per user (X-Cache), and a sign-up drops every page.
	_, r1 := ann.search(t, "q=pager&limit=50")
	_, r2 := ann.search(t, "q=pager&limit=50")
	if xcache(r2) != "HIT" {
		t.Fatalf("second identical search: X-Cache %q (first %q)", xcache(r2), xcache(r1))
	}
	registerNamed(t, b, "Pager 99")
	p, r3 := ann.search(t, "q=pager&limit=50")
	if xcache(r3) == "HIT" || len(p.Users) != 13 || p.Users[12].Name != "Pager 99" {
		t.Fatalf("after a sign-up: X-Cache %q, %q", xcache(r3), p.names())
	}

	// Bad input, each with its documented error.
	for _, c := range []struct{ query, what string }{
		{"", "no q"}, {"q=", "empty q"}, {"q=%20%20", "blank q"}, {"q=a%00b", "NUL in q"},
		{"q=a%E2%80%AEb", "bidi control in q"}, {"q=" + strings.Repeat("x", 65), "q too long"},
		{"q=a&limit=0", "limit 0"}, {"q=a&limit=51", "limit 51"}, {"q=a&limit=x", "limit x"},
		{"q=a&cursor=%%%", "query not URL-encoded"}, {"q=a&cursor=%21%21", "cursor not base64"}, {"q=a&cursor=bm9udWw", "cursor without id"},
		{"q=a&q=b", "q twice"},
	} {
		wantAPIErr(t, c.what, ann.call(t, "GET", "/api/users?"+c.query, nil), 400, "bad_request")
	}
	wantAPIErr(t, "anonymous", a.call(t, "GET", "/api/users?q=zoe", "", nil), 401, "unauthorized")
	wantAPIErr(t, "wrong method", ann.call(t, "DELETE", "/api/users", nil), 405, "bad_request")

	// Rate limited per user (1/s, burst 30 here), across instances;
	// another user is not.
	eve := registerNamed(t, a, "Eve Searcher")
	limited := false
	for i := 0; i < 60 && !limited; i++ {
		s := []*server{a, b}[i%2]
		r := (&client{s: s, token: eve.token}).call(t, "GET", fmt.Sprintf("/api/users?q=x%d", i), nil)
		if r.status == 429 {
			wantAPIErr(t, "search flood", r, 429, "rate_limited")
			limited = true
		} else {
			wantStatus(t, "search", r, 200)
		}
	}
	if !limited {
		t.Fatal("60 searches at once were never rate limited")
	}
	ann.search(t, "q=eve") // another user is not limited by eve's flood
}

type dmAnswer struct {
	chatclient.Room
	Peer struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	} `json:"peer"`
}

func testDirectMessages(t *testing.T, a, b *server) {
	stamp := time.Now().UnixNano()
	ann := a.register(t, fmt.Sprintf("dm-ann-%d", stamp))
	bob := b.register(t, fmt.Sprintf("dm-bob-%d", stamp))
	carl := a.register(t, fmt.Sprintf("dm-carl-%d", stamp))
	annOnB := &client{s: b, token: ann.token, id: ann.id, name: ann.name}
	bobOnA := &client{s: a, token: bob.token, id: bob.id, name: bob.name}

	// The race: both sides, both instances, at once. One room, one 201.
	const n = 16
	var wg sync.WaitGroup
	replies := make([]reply, n)
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from, to := []*client{ann, annOnB, bob, bobOnA}[i%4], bob.id
			if from.id == bob.id {
				to = ann.id
			}
			replies[i], errs[i] = tryCall(from, "POST", "/api/dms", map[string]any{"user_id": to})
		}()
	}
	wg.Wait()
	var room int64
	created := 0
	for i, r := range replies {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		var d dmAnswer
		r.decode(t, &d)
		switch {
		case r.status == 201:
			created++
		case r.status != 200:
			t.Fatalf("open DM: %d %s", r.status, r.body)
		}
		if room == 0 {
			room = d.ID
		}
		if d.ID != room || d.Kind != "dm" || !d.IsPrivate || d.MemberCount != 2 {
			t.Fatalf("answer %d: %+v, want room %d of kind dm", i, d, room)
		}
		if want := map[int64]int64{ann.id: bob.id, bob.id: ann.id}[[]*client{ann, annOnB, bob, bobOnA}[i%4].id]; d.Peer.ID != want {
			t.Fatalf("answer %d: peer %+v, want %d", i, d.Peer, want)
		}
	}
	if created != 1 {
		t.Fatalf("%d answers were 201 created, want exactly 1", created)
	}

	// Listed apart (GET /api/dms) and with kind dm in the room list, on
	// both instances.
	for _, c := range []*client{ann, annOnB, bob, bobOnA} {
		var dms struct {
			DMs []struct {
				Room int64 `json:"room"`
				Peer struct {
					ID int64 `json:"id"`
				} `json:"peer"`
			} `json:"dms"`
		}
		r := c.call(t, "GET", "/api/dms", nil)
		wantStatus(t, "GET /api/dms", r, 200)
		r.decode(t, &dms)
		if len(dms.DMs) != 1 || dms.DMs[0].Room != room || dms.DMs[0].Peer.ID == c.id {
			t.Fatalf("%s's DMs: %s", c.name, r.body)
		}
		var list struct{ Rooms []chatclient.Room }
		c.call(t, "GET", "/api/rooms", nil).decode(t, &list)
		found := false
		for _, rm := range list.Rooms {
			if rm.ID == room {
				found = rm.Kind == "dm" && rm.Joined
			}
		}
		if !found {
			t.Fatalf("%s's room list lacks the DM as kind dm", c.name)
		}
	}
	// Not in a third user's lists.
	var list struct{ Rooms []chatclient.Room }
	carl.call(t, "GET", "/api/rooms", nil).decode(t, &list)
	for _, rm := range list.Rooms {
		if rm.ID == room {
			t.Fatal("carl's room list shows ann and bob's DM")
		}
	}

	// Messages, history and resume exactly as in rooms: bob subscribed on
	// B, ann posts on A.
	wb := bob.dial(t)
	defer wb.close()
	wb.subscribe(t, room, ptr(int64(0)))
	for i := 1; i <= 3; i++ {
		r := ann.call(t, "POST", fmt.Sprintf("/api/rooms/%d/messages", room), map[string]string{"body": fmt.Sprint("dm ", i), "cid": fmt.Sprint("dm-", stamp, "-", i)})
		wantStatus(t, "post to the DM", r, 201)
	}
	for i := 1; i <= 3; i++ {
		if e := wb.next(t, "message"); e.Seq != int64(i) || e.Body != fmt.Sprint("dm ", i) {
			t.Fatalf("bob got %+v", e)
		}
	}
	r := ann.call(t, "POST", fmt.Sprintf("/api/rooms/%d/messages", room), map[string]string{"body": "dm 1", "cid": fmt.Sprint("dm-", stamp, "-1")})
	wantStatus(t, "repeated cid", r, 200)
	var hist struct {
		Messages []chatclient.Message
		HasMore  bool `json:"has_more"`
	}
	bobOnA.call(t, "GET", fmt.Sprintf("/api/rooms/%d/messages?after=1", room), nil).decode(t, &hist)
	if len(hist.Messages) != 2 || hist.Messages[0].Seq != 2 {
		t.Fatalf("history after=1: %+v", hist)
	}
	wr := annOnB.dial(t)
	defer wr.close()
	wr.subscribe(t, room, ptr(int64(2)))
	if e := wr.next(t, "message"); e.Seq != 3 {
		t.Fatalf("resume since 2: %+v", e)
	}

	// Only the two: carl can neither read, write, join nor subscribe;
	// nobody can invite into it or leave it; it has no owner.
	path := fmt.Sprintf("/api/rooms/%d", room)
	wantAPIErr(t, "outsider reads the DM", carl.call(t, "GET", path, nil), 403, "forbidden")
	wantAPIErr(t, "outsider reads history", carl.call(t, "GET", path+"/messages", nil), 403, "forbidden")
	wantAPIErr(t, "outsider posts", carl.call(t, "POST", path+"/messages", map[string]string{"body": "hi"}), 403, "forbidden")
	wantAPIErr(t, "outsider joins", carl.call(t, "POST", path+"/join", nil), 403, "forbidden")
	wantAPIErr(t, "outsider members", carl.call(t, "GET", path+"/members", nil), 403, "forbidden")
	wantAPIErr(t, "invite into a DM", ann.call(t, "POST", path+"/members", map[string]any{"user_id": carl.id}), 403, "forbidden")
	wantAPIErr(t, "outsider invites", carl.call(t, "POST", path+"/members", map[string]any{"user_id": carl.id}), 403, "forbidden")
	wantAPIErr(t, "leave a DM", bob.call(t, "POST", path+"/leave", nil), 403, "forbidden")
	wantAPIErr(t, "remove from a DM", ann.call(t, "DELETE", fmt.Sprintf("%s/members/%d", path, bob.id), nil), 403, "forbidden")
	wantAPIErr(t, "rename a DM", ann.call(t, "PATCH", path, map[string]string{"name": "ours"}), 403, "forbidden")
	wantAPIErr(t, "delete a DM", ann.call(t, "DELETE", path, nil), 403, "forbidden")
	wc := carl.dial(t)
	defer wc.close()
	wc.send(t, map[string]any{"type": "subscribe", "room": room})
	if e := wc.next(t, "error"); e.Code != "forbidden" {
		t.Fatalf("outsider subscribes: %+v", e)
	}
	var members struct{ Members []chatclient.Member }
	ann.call(t, "GET", path+"/members", nil).decode(t, &members)
	if len(members.Members) != 2 {
		t.Fatalf("DM members: %+v", members)
	}

	// Bad input.
	wantAPIErr(t, "DM with oneself", ann.call(t, "POST", "/api/dms", map[string]any{"user_id": ann.id}), 400, "bad_request")
	wantAPIErr(t, "DM with nobody", ann.call(t, "POST", "/api/dms", map[string]any{"user_id": 0}), 400, "bad_request")
	wantAPIErr(t, "DM with a negative id", ann.call(t, "POST", "/api/dms", map[string]any{"user_id": -3}), 400, "bad_request")
	wantAPIErr(t, "DM with a string id", ann.call(t, "POST", "/api/dms", map[string]any{"user_id": "7"}), 400, "bad_request")
	wantAPIErr(t, "DM with an unknown user", ann.call(t, "POST", "/api/dms", map[string]any{"user_id": 1 << 40}), 404, "not_found")
	wantAPIErr(t, "DM by an unknown name", ann.call(t, "POST", "/api/dms", map[string]any{"name": "nobody-" + fmt.Sprint(stamp)}), 404, "not_found")
	wantAPIErr(t, "DM by id and name", ann.call(t, "POST", "/api/dms", map[string]any{"user_id": bob.id, "name": bob.name}), 400, "bad_request")
	wantAPIErr(t, "DM without a body", ann.call(t, "POST", "/api/dms", nil), 400, "bad_request")
	wantAPIErr(t, "DM anonymous", a.call(t, "POST", "/api/dms", "", map[string]any{"user_id": bob.id}), 401, "unauthorized")

	// By name, case-insensitively; an ambiguous name is a 409.
	r = carl.call(t, "POST", "/api/dms", map[string]any{"name": strings.ToUpper(ann.name)})
	wantStatus(t, "DM by name", r, 201)
	var d dmAnswer
	r.decode(t, &d)
	if d.Peer.ID != ann.id || d.ID == room {
		t.Fatalf("DM by name: %s", r.body)
	}
	twin := fmt.Sprintf("dm-twin-%d", stamp)
	a.register(t, twin)
	b.register(t, strings.ToUpper(twin))
	wantAPIErr(t, "DM by an ambiguous name", carl.call(t, "POST", "/api/dms", map[string]any{"name": twin}), 409, "conflict")

	// ann's cached DM list has the new one at once, on both instances.
	for _, c := range []*client{ann, annOnB} {
		var dms struct{ DMs []json.RawMessage }
		c.call(t, "GET", "/api/dms", nil).decode(t, &dms)
		if len(dms.DMs) != 2 {
			t.Fatalf("ann's DMs after carl opened one: %d", len(dms.DMs))
		}
	}
}

func testRoomAdmin(t *testing.T, a, b *server) {
	stamp := time.Now().UnixNano()
	owner := a.register(t, fmt.Sprintf("adm-owner-%d", stamp))
	member := b.register(t, fmt.Sprintf("adm-member-%d", stamp))
	outsider := b.register(t, fmt.Sprintf("adm-out-%d", stamp))
	ownerOnB := &client{s: b, token: owner.token, id: owner.id}
	memberOnA := &client{s: a, token: member.token, id: member.id}

	for _, private := range []bool{false, true} {
		room := owner.createRoom(t, fmt.Sprintf("adm-%v-%d", private, stamp), private)
		path := fmt.Sprintf("/api/rooms/%d", room)
		wantStatus(t, "invite", owner.call(t, "POST", path+"/members", map[string]any{"user_id": member.id}), 200)

		// Fill every cache on both instances.
		for i := 0; i < 2; i++ {
			for _, c := range []*client{owner, ownerOnB, member, memberOnA} {
				wantStatus(t, "room info", c.call(t, "GET", path, nil), 200)
				wantStatus(t, "room list", c.call(t, "GET", "/api/rooms", nil), 200)
			}
		}
		if r := member.call(t, "GET", path, nil); xcache(r) != "HIT" {
			t.Fatalf("room info not cached: X-Cache %q", xcache(r))
		}

		// The owner renames on A: room info and the room list show it on
		// B at once.
		newName := fmt.Sprintf("renamed-%v-%d", private, stamp)
		r := owner.call(t, "PATCH", path, map[string]string{"name": "  " + newName + "  ", "topic": "Ünïcode topic 🎉"})
		wantStatus(t, "rename", r, 200)
		var got chatclient.Room
		r.decode(t, &got)
		if got.Name != newName || got.Topic != "Ünïcode topic 🎉" || got.ID != room {
			t.Fatalf("rename answer: %s", r.body)
		}
		check := func(c *client) error {
			var info chatclient.Room
			c.call(t, "GET", path, nil).decode(t, &info)
			if info.Name != newName || info.Topic != "Ünïcode topic 🎉" {
				return fmt.Errorf("room info after the rename: %+v", info)
			}
			var list struct{ Rooms []chatclient.Room }
			c.call(t, "GET", "/api/rooms", nil).decode(t, &list)
			for _, rm := range list.Rooms {
				if rm.ID == room && (rm.Name != newName || rm.Topic != "Ünïcode topic 🎉") {
					return fmt.Errorf("room list after the rename: %+v", rm)
				}
			}
			return nil
		}
		for _, c := range []*client{member, ownerOnB, memberOnA, owner} {
			within(t, 100*time.Millisecond, "the rename on another instance", func() error { return check(c) })
		}
		// The topic alone; an empty topic clears it.
		wantStatus(t, "topic only", ownerOnB.call(t, "PATCH", path, map[string]string{"topic": ""}), 200)
		var info chatclient.Room
		member.call(t, "GET", path, nil).decode(t, &info)
		if info.Topic != "" || info.Name != newName {
			t.Fatalf("after clearing the topic: %+v", info)
		}

		// Bad input and refusals, each with its documented error.
		wantAPIErr(t, "member renames", member.call(t, "PATCH", path, map[string]string{"name": "x"}), 403, "forbidden")
		wantAPIErr(t, "member deletes", memberOnA.call(t, "DELETE", path, nil), 403, "forbidden")
		outsiderCode := 403
		wantAPIErr(t, "outsider renames", outsider.call(t, "PATCH", path, map[string]string{"name": "x"}), outsiderCode, "forbidden")
		wantAPIErr(t, "outsider deletes", outsider.call(t, "DELETE", path, nil), outsiderCode, "forbidden")
		wantAPIErr(t, "unknown room rename", owner.call(t, "PATCH", "/api/rooms/999999999", map[string]string{"name": "x"}), 404, "not_found")
		wantAPIErr(t, "unknown room delete", owner.call(t, "DELETE", "/api/rooms/999999999", nil), 404, "not_found")
		wantAPIErr(t, "bad id", owner.call(t, "PATCH", "/api/rooms/abc", map[string]string{"name": "x"}), 400, "bad_request")
		wantAPIErr(t, "zero id delete", owner.call(t, "DELETE", "/api/rooms/0", nil), 400, "bad_request")
		wantAPIErr(t, "nothing to change", owner.call(t, "PATCH", path, map[string]string{}), 400, "bad_request")
		wantAPIErr(t, "empty name", owner.call(t, "PATCH", path, map[string]string{"name": "  "}), 400, "bad_request")
		wantAPIErr(t, "long name", owner.call(t, "PATCH", path, map[string]string{"name": strings.Repeat("n", 101)}), 400, "bad_request")
		wantAPIErr(t, "bidi name", owner.call(t, "PATCH", path, map[string]string{"name": "a\u202Eb"}), 400, "bad_request")
		wantAPIErr(t, "long topic", owner.call(t, "PATCH", path, map[string]string{"topic": strings.Repeat("t", 251)}), 400, "bad_request")
		wantAPIErr(t, "control in topic", owner.call(t, "PATCH", path, map[string]string{"topic": "a\x01b"}), 400, "bad_request")
		wantAPIErr(t, "topic not a string", owner.call(t, "PATCH", path, map[string]any{"topic": 5}), 400, "bad_request")
		wantAPIErr(t, "anonymous rename", a.call(t, "PATCH", path, "", map[string]string{"name": "x"}), 401, "unauthorized")

		// The owner deletes on A while the member is subscribed on B and
		// on A: both subscriptions end, and nothing about the room is
		// served any more, on either instance.
		wb := member.dial(t)
		defer wb.close()
		wb.subscribe(t, room, nil)
		wa := memberOnA.dial(t)
		defer wa.close()
		wa.subscribe(t, room, nil)
		wantStatus(t, "post before the delete", member.call(t, "POST", path+"/messages", map[string]string{"body": "soon gone"}), 201)
		wb.next(t, "message")
		wa.next(t, "message")
		r = owner.call(t, "DELETE", path, nil)
		wantStatus(t, "delete", r, 200)
		for name, w := range map[string]*wsClient{"B": wb, "A": wa} {
			if e := w.next(t, "unsubscribed"); e.Room != room {
				t.Fatalf("member's subscription on %s: %+v", name, e)
			}
		}
		for _, c := range []*client{member, ownerOnB, memberOnA, owner} {
			within(t, 100*time.Millisecond, "the delete on another instance", func() error {
				if r := c.call(t, "GET", path, nil); r.status != 404 {
					return fmt.Errorf("room info: %d %s", r.status, r.body)
				}
				return nil
			})
			wantAPIErr(t, "room info after the delete", c.call(t, "GET", path, nil), 404, "not_found")
			wantAPIErr(t, "members after the delete", c.call(t, "GET", path+"/members", nil), 404, "not_found")
			wantAPIErr(t, "history after the delete", c.call(t, "GET", path+"/messages", nil), 404, "not_found")
			wantAPIErr(t, "post after the delete", c.call(t, "POST", path+"/messages", map[string]string{"body": "x"}), 404, "not_found")
			var list struct{ Rooms []chatclient.Room }
			c.call(t, "GET", "/api/rooms", nil).decode(t, &list)
			for _, rm := range list.Rooms {
				if rm.ID == room {
					t.Fatalf("room list after the delete still has %+v", rm)
				}
			}
		}
		wantAPIErr(t, "delete again", owner.call(t, "DELETE", path, nil), 404, "not_found")
		wb.send(t, map[string]any{"type": "subscribe", "room": room})
		if e := wb.next(t, "error"); e.Code != "not_found" {
			t.Fatalf("subscribe after the delete: %+v", e)
		}
	}
}

// within retries check until it passes, failing the test after d: what
// another instance learns through the entity caches' invalidation channel
// (README: within milliseconds) rather than at once.
func within(t testing.TB, d time.Duration, what string, check func() error) {
	t.Helper()
	start := time.Now()
	for try := 1; ; try++ {
		err := check()
		if err == nil {
			if try > 1 {
				t.Logf("%s: seen after %v (%d tries)", what, time.Since(start).Round(time.Microsecond), try)
			}
			return
		}
		if time.Since(start) > d {
			t.Fatalf("%s: still not seen after %v: %v", what, d, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// registerNamed registers a user whose name need not make an e-mail
// address (spaces, any script).
func registerNamed(t testing.TB, s *server, name string) *client {
	t.Helper()
	email := fmt.Sprintf("person.%d.%d@example.test", time.Now().UnixNano(), userSeq.Add(1))
	var out chatclient.Auth
	r, err := s.api("").Do(context.Background(), "POST", "/api/auth/register", map[string]string{"name": name, "email": email, "password": "password-123"}, &out)
	if err != nil || r.StatusCode != http.StatusCreated {
		t.Fatalf("register %s: %v", name, err)
	}
	return &client{s: s, token: out.Token, id: out.User.ID, name: name}
}
