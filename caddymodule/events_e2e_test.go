package caddymodule_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chatgate/chatgate/chatclient"
	"github.com/chatgate/chatgate/internal/testenv"
)

// Room events (issue 15) through the real binary: two gateway processes on
// one Postgres database and one Redis, with the shipped Caddyfile's cache
// blocks, speaking only PROTOCOL.md through chatclient.

// eventPorts hands out this suite's ports, from the range reserved for it
// (18600-18699), skipping any in use.
var eventPorts = 18600

func eventPort(t *testing.T) int {
	t.Helper()
	for ; eventPorts < 18700; eventPorts++ {
		l, err := net.Listen("tcp", "127.0.0.1:"+fmt.Sprint(eventPorts))
		if err != nil {
			continue
		}
		l.Close()
		eventPorts++
		return eventPorts - 1
	}
	t.Fatal("no free port in 18600-18699")
	return 0
}

const (
	eventEditWindow   = 4 * time.Second
	eventMaxReactions = 3
)

type eventsCluster struct {
	bases [2]string
}

// startEventsCluster runs two instances of the binary (edit_window 4s,
// max_reactions 3) on a fresh database and a private Redis.
func startEventsCluster(t *testing.T) *eventsCluster {
	t.Helper()
	dsn := testenv.FreshDB(t, "chatgate_test_events")
	rs := testenv.StartRedis(t)
	bin := testenv.BuildGateway(t)
	blocks := shippedCacheBlocks(t)
	c := &eventsCluster{}
	for i := range c.bases {
		port, admin := eventPort(t), eventPort(t)
		cfg := fmt.Sprintf(`{
	admin 127.0.0.1:%d
	chat {
		postgres %s
		redis %s
		secret %s
		instance events-%d
		password_memory_kib 1024
		password_time 1
	}
}
http://:%d {
	bind 127.0.0.1
	@chat path /api /api/* /ws /healthz /readyz
	handle @chat {
%s
		chat {
			edit_window %s
			max_reactions %d
			user_send_rate off
			ip_conns off
			ip_connect_rate off
			ip_request_rate off
			user_request_rate off
			auth_ip_rate off
			login_account_rate off
			login_account_ip_rate off
		}
	}
}
`, admin, dsn, rs.URL(), testSecret, i, port, blocks, eventEditWindow, eventMaxReactions)
		dir := t.TempDir()
		path := testenv.WriteFile(t, dir, "Caddyfile", cfg)
		testenv.Start(t, dir, fmt.Sprintf("gateway-%d", i), []string{"CHATGATE_OPS_ADDR=127.0.0.1:" + fmt.Sprint(eventPort(t))},
			bin, "run", "--config", path, "--adapter", "caddyfile")
		c.bases[i] = fmt.Sprintf("http://127.0.0.1:%d", port)
		testenv.WaitHTTP(t, c.bases[i]+"/readyz", 200, 60*time.Second)
	}
	return c
}

// user registers on instance i and returns its client.
func (c *eventsCluster) user(t *testing.T, i int, name string) (*chatclient.Client, int64) {
	t.Helper()
	cl := chatclient.New(c.bases[i])
	a, err := cl.Register(context.Background(), name, strings.ReplaceAll(strings.ToLower(name), " ", ".")+"@events.example", "password-123")
	if err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	return cl, a.User.ID
}

func dialQueue(t *testing.T, cl *chatclient.Client) *chatclient.Conn {
	t.Helper()
	conn, err := cl.Dial(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Drop() })
	return conn
}

// wantErr checks a refusal's status (REST; 0 for WebSocket) and code.
func wantErr(t *testing.T, what string, err error, status int, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want %d %s", what, status, code)
	}
	if chatclient.CodeOf(err) != code || (status != 0 && chatclient.StatusOf(err) != status) {
		t.Fatalf("%s: %v, want %d %s", what, err, status, code)
	}
}

// verbs is one transport's edit, delete, react and unreact.
type verbs struct {
	edit    func(room, seq int64, body, cid string) (*chatclient.EventAck, error)
	del     func(room, seq int64, cid string) (*chatclient.EventAck, error)
	react   func(room, seq int64, emoji, cid string) (*chatclient.EventAck, error)
	unreact func(room, seq int64, emoji, cid string) (*chatclient.EventAck, error)
	status  func(int) int // the status a refusal carries on this transport
}

func restVerbs(cl *chatclient.Client) verbs {
	ctx := context.Background()
	return verbs{
		edit: func(room, seq int64, body, cid string) (*chatclient.EventAck, error) {
			return cl.EditMessage(ctx, room, seq, body, cid)
		},
		del: func(room, seq int64, cid string) (*chatclient.EventAck, error) {
			return cl.DeleteMessage(ctx, room, seq, cid)
		},
		react: func(room, seq int64, emoji, cid string) (*chatclient.EventAck, error) {
			return cl.AddReaction(ctx, room, seq, emoji, cid)
		},
		unreact: func(room, seq int64, emoji, cid string) (*chatclient.EventAck, error) {
			return cl.RemoveReaction(ctx, room, seq, emoji, cid)
		},
		status: func(s int) int { return s },
	}
}

func wsVerbs(t *testing.T, cl *chatclient.Client) verbs {
	conn := dialQueue(t, cl)
	ctx := func() context.Context {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		t.Cleanup(cancel)
		return c
	}
	return verbs{
		edit: func(room, seq int64, body, cid string) (*chatclient.EventAck, error) {
			return conn.Edit(ctx(), room, seq, body, cid)
		},
		del: func(room, seq int64, cid string) (*chatclient.EventAck, error) {
			return conn.Delete(ctx(), room, seq, cid)
		},
		react: func(room, seq int64, emoji, cid string) (*chatclient.EventAck, error) {
			return conn.React(ctx(), room, seq, emoji, cid)
		},
		unreact: func(room, seq int64, emoji, cid string) (*chatclient.EventAck, error) {
			return conn.Unreact(ctx(), room, seq, emoji, cid)
		},
		status: func(int) int { return 0 },
	}
}

func post(t *testing.T, cl *chatclient.Client, room int64, body string) int64 {
	t.Helper()
	m, _, err := cl.Post(context.Background(), room, body, "")
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	return m.Seq
}

// TestRoomEvents runs every verb over REST and the WebSocket against two
// instances: the bad-input table, idempotency by cid, history pages in
// their current state (cached, and refreshed by events on both
// instances), the resume test and the order across instances.
func TestRoomEvents(t *testing.T) {
	c := startEventsCluster(t)
	ctx := context.Background()
	owner, ownerID := c.user(t, 0, "Olga")
	alice, aliceID := c.user(t, 1, "Alice")
	bob, _ := c.user(t, 0, "Bob")
	eve, _ := c.user(t, 1, "Eve") // never joins
	room, err := owner.CreateRoom(ctx, "events", false)
	if err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*chatclient.Client{alice, bob} {
		if err := cl.Join(ctx, room.ID); err != nil {
			t.Fatal(err)
		}
	}

	for _, tr := range []struct {
		name string
		mk   func(*chatclient.Client) verbs
	}{
		{"REST", restVerbs},
		{"WebSocket", func(cl *chatclient.Client) verbs { return wsVerbs(t, cl) }},
	} {
		t.Run(tr.name, func(t *testing.T) {
			a, b, e, o := tr.mk(alice), tr.mk(bob), tr.mk(eve), tr.mk(owner)
			st := a.status
			mine := post(t, alice, room.ID, "alice's words")
			bobs := post(t, bob, room.ID, "bob's words")
			pfx := tr.name + "-"

			// Edit.
			_, err := b.edit(room.ID, mine, "not yours", "")
			wantErr(t, "edit by another member", err, st(403), "forbidden")
			_, err = e.edit(room.ID, mine, "not a member", "")
			wantErr(t, "edit by a non-member", err, st(403), "forbidden")
			_, err = a.edit(room.ID, 999999, "x", "")
			wantErr(t, "edit of an unknown message", err, st(404), "not_found")
			_, err = a.edit(999999, mine, "x", "")
			wantErr(t, "edit in an unknown room", err, st(404), "not_found")
			_, err = a.edit(room.ID, mine, strings.Repeat("x", 4097), "")
			wantErr(t, "oversize edit", err, st(413), "too_large")
			_, err = a.edit(room.ID, mine, "   ", "")
			wantErr(t, "blank edit", err, st(400), "bad_request")
			ack, err := a.edit(room.ID, mine, "alice's better words", pfx+"e1")
			if err != nil || ack.Seq == 0 || ack.Target != mine || ack.Duplicate {
				t.Fatalf("edit: %+v %v", ack, err)
			}
			again, err := a.edit(room.ID, mine, "alice's better words", pfx+"e1")
			if err != nil || !again.Duplicate || again.Seq != ack.Seq {
				t.Fatalf("edit repeated: %+v %v, want duplicate of seq %d", again, err, ack.Seq)
			}
			_, err = a.edit(room.ID, mine, "other words", pfx+"e1")
			wantErr(t, "edit with a used cid", err, st(409), "conflict")
			_, err = a.edit(room.ID, bobs, "x", "")
			wantErr(t, "edit of another's message", err, st(403), "forbidden")

			// Reactions.
			_, err = b.react(room.ID, mine, "not an emoji", "")
			wantErr(t, "bad emoji", err, st(400), "bad_request")
			_, err = b.react(room.ID, mine, strings.Repeat("👍", 17), "")
			wantErr(t, "oversize emoji", err, st(413), "too_large")
			_, err = e.react(room.ID, mine, "👍", "")
			wantErr(t, "reaction by a non-member", err, st(403), "forbidden")
			_, err = b.react(room.ID, 999999, "👍", "")
			wantErr(t, "reaction to an unknown message", err, st(404), "not_found")
			r1, err := b.react(room.ID, mine, "👍", pfx+"r1")
			if err != nil || r1.Seq == 0 {
				t.Fatalf("react: %+v %v", r1, err)
			}
			if r, err := b.react(room.ID, mine, "👍", pfx+"r1"); err != nil || !r.Duplicate || r.Seq != r1.Seq {
				t.Fatalf("react repeated: %+v %v", r, err)
			}
			if r, err := b.react(room.ID, mine, "👍", ""); err != nil || !r.Noop || r.Seq != 0 {
				t.Fatalf("react twice (new cid): %+v %v, want noop", r, err)
			}
			_, err = b.react(room.ID, mine, "🎉", pfx+"r1")
			wantErr(t, "reaction with a used cid", err, st(409), "conflict")
			for _, emoji := range []string{"🎉", ":party_parrot:"} {
				if _, err := o.react(room.ID, mine, emoji, ""); err != nil {
					t.Fatalf("react %s: %v", emoji, err)
				}
			}
			_, err = a.react(room.ID, mine, "❤️", "")
			wantErr(t, "a fourth distinct reaction", err, st(409), "conflict")
			if _, err := a.react(room.ID, mine, "👍", ""); err != nil {
				t.Fatalf("joining an existing reaction past the bound: %v", err)
			}
			if r, err := o.unreact(room.ID, mine, ":party_parrot:", ""); err != nil || r.Seq == 0 {
				t.Fatalf("unreact: %+v %v", r, err)
			}
			if r, err := o.unreact(room.ID, mine, ":party_parrot:", ""); err != nil || !r.Noop {
				t.Fatalf("unreact twice: %+v %v, want noop", r, err)
			}
			_, err = e.unreact(room.ID, mine, "👍", "")
			wantErr(t, "unreact by a non-member", err, st(403), "forbidden")

			// Delete.
			_, err = b.del(room.ID, mine, "")
			wantErr(t, "delete by another member", err, st(403), "forbidden")
			_, err = e.del(room.ID, mine, "")
			wantErr(t, "delete by a non-member", err, st(403), "forbidden")
			_, err = a.del(room.ID, 999999, "")
			wantErr(t, "delete of an unknown message", err, st(404), "not_found")
			d1, err := o.del(room.ID, bobs, pfx+"d1")
			if err != nil || d1.Seq == 0 {
				t.Fatalf("owner deletes bob's: %+v %v", d1, err)
			}
			if d, err := o.del(room.ID, bobs, pfx+"d1"); err != nil || !d.Duplicate || d.Seq != d1.Seq {
				t.Fatalf("delete repeated: %+v %v", d, err)
			}
			if d, err := b.del(room.ID, bobs, ""); err != nil || !d.Noop {
				t.Fatalf("delete of a deleted message: %+v %v, want noop", d, err)
			}
			_, err = b.edit(room.ID, bobs, "back", "")
			wantErr(t, "edit of a deleted message", err, st(404), "not_found")
			_, err = a.react(room.ID, bobs, "👍", "")
			wantErr(t, "reaction to a deleted message", err, st(404), "not_found")
			_, err = a.edit(room.ID, mine, "sent as a message", pfx+"e1")
			wantErr(t, "an edit reusing the edit's cid for another text", err, st(409), "conflict")
			if _, _, err := alice.Post(ctx, room.ID, "alice's better words", pfx+"e1"); chatclient.StatusOf(err) != 409 {
				t.Fatalf("a send reusing an edit's cid: %v, want 409", err)
			}

			// History (before: the stream, messages in their current
			// state) on both instances, from the cache or not.
			for _, cl := range []*chatclient.Client{owner, alice} {
				p, err := cl.MessagesBefore(ctx, room.ID, 0, 50)
				if err != nil {
					t.Fatal(err)
				}
				got := map[int64]chatclient.Message{}
				for i, m := range p.Messages {
					if i > 0 && m.Seq != p.Messages[i-1].Seq-1 {
						t.Fatalf("history page: seq %d after %d", m.Seq, p.Messages[i-1].Seq)
					}
					if m.Type == "message" {
						got[m.Seq] = m
					}
				}
				m, d := got[mine], got[bobs]
				if m.Body != "alice's better words" || m.EditedAt == "" || m.Rev == 0 {
					t.Fatalf("edited message in history: %+v", m)
				}
				wantRx := []chatclient.Reaction{{Emoji: "👍", Users: []int64{bobID(t, bob), aliceID}}, {Emoji: "🎉", Users: []int64{ownerID}}}
				if !reflect.DeepEqual(m.Reactions, wantRx) {
					t.Fatalf("reactions in history: %+v, want %+v", m.Reactions, wantRx)
				}
				if !m.Reactions[0].Mine(aliceID) || m.Reactions[1].Mine(aliceID) {
					t.Fatalf("mine: %+v", m.Reactions)
				}
				if !d.Deleted || d.Body != "" || len(d.Reactions) != 0 {
					t.Fatalf("deleted message in history: %+v", d)
				}
			}
		})
	}

	t.Run("EditWindow", func(t *testing.T) {
		seq := post(t, alice, room.ID, "soon frozen")
		time.Sleep(eventEditWindow + 500*time.Millisecond)
		_, err := alice.EditMessage(ctx, room.ID, seq, "too late", "")
		wantErr(t, "edit after the window", err, 403, "forbidden")
		if _, err := alice.DeleteMessage(ctx, room.ID, seq, ""); err != nil {
			t.Fatalf("delete has no window: %v", err)
		}
	})

	t.Run("Mentions", func(t *testing.T) { mentions(t, c, owner, alice, eve, room.ID) })
	t.Run("RoomsEvents", func(t *testing.T) { roomsEvents(t, c) })
	t.Run("Unread", func(t *testing.T) { unreadCounts(t, c) })
	t.Run("HistoryCache", func(t *testing.T) { historyCache(t, c, owner, alice, room.ID) })
	t.Run("Resume", func(t *testing.T) { resume(t, c, owner, alice, bob, room.ID) })
}

func bobID(t *testing.T, bob *chatclient.Client) int64 {
	t.Helper()
	me, err := bob.Me(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return me.ID
}

// historyCache: a history page below the newest is served from the cache
// (one entry for all members, on both instances), and an edit, a reaction
// and a delete of a message on it each drop it everywhere.
func historyCache(t *testing.T, c *eventsCluster, owner, alice *chatclient.Client, room int64) {
	ctx := context.Background()
	first := post(t, alice, room, "cached words")
	for i := 0; i < 60; i++ {
		post(t, owner, room, fmt.Sprint("filler ", i))
	}
	before := first + 1 // the page of messages below first+1, aligned or not: stored as history
	page := func(cl *chatclient.Client) (chatclient.Message, string) {
		t.Helper()
		r, err := cl.Do(ctx, http.MethodGet, fmt.Sprintf("/api/rooms/%d/messages?before=%d&limit=50", room, before), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		var p chatclient.Page
		if err := json.Unmarshal(r.Body, &p); err != nil {
			t.Fatal(err)
		}
		if len(p.Messages) == 0 || p.Messages[0].Seq != first {
			t.Fatalf("page below %d: %+v", before, p.Messages)
		}
		return p.Messages[0], r.Header.Get("X-Cache")
	}
	// Each instance keeps its own entry; both are dropped by a write on
	// either (the tag versions are in Redis).
	cached := func() {
		t.Helper()
		for j, cl := range []*chatclient.Client{owner, alice} {
			page(cl)
			if _, xc := page(cl); xc != "HIT" {
				t.Fatalf("instance %d: second read of the page: X-Cache %s, want HIT", j, xc)
			}
		}
	}
	// An edit and a reaction through each instance, read on both.
	clients := []*chatclient.Client{owner, alice} // instance 0, instance 1
	for i := range clients {
		body, emoji := fmt.Sprint("edited through ", i), []string{"👀", "🙈"}[i]
		cached()
		if _, err := alice.WithBaseURL(c.bases[i]).EditMessage(ctx, room, first, body, ""); err != nil {
			t.Fatal(err)
		}
		for j, cl := range clients {
			if m, xc := page(cl); m.Body != body || m.EditedAt == "" {
				t.Fatalf("after an edit on instance %d, instance %d: %+v (X-Cache %s): stale", i, j, m, xc)
			}
		}
		cached()
		if _, err := clients[i].AddReaction(ctx, room, first, emoji, ""); err != nil {
			t.Fatal(err)
		}
		for j, cl := range clients {
			if m, xc := page(cl); len(m.Reactions) != i+1 || m.Reactions[i].Emoji != emoji {
				t.Fatalf("after a reaction on instance %d, instance %d: %+v (X-Cache %s): stale", i, j, m, xc)
			}
		}
	}
	cached()
	if _, err := owner.DeleteMessage(ctx, room, first, ""); err != nil {
		t.Fatal(err)
	}
	for j, cl := range clients {
		if m, xc := page(cl); !m.Deleted || m.Body != "" || len(m.Reactions) != 0 {
			t.Fatalf("after a delete, instance %d: %+v (X-Cache %s): stale", j, m, xc)
		}
	}
}

// resume: a client away for a burst of sends, edits, deletes and
// reactions on both instances comes back with since and ends in exactly
// the state of clients that never left (one per instance, which also see
// the same entries in the same order), and of a client that reads the
// stream with ?after= pages.
func resume(t *testing.T, c *eventsCluster, owner, alice, bob *chatclient.Client, room int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start, err := owner.Room(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	from := start.LastSeq
	live := [2]*chatclient.Conn{dialQueue(t, owner), dialQueue(t, chatclient.New(c.bases[1], chatclient.WithToken(alice.Token())))}
	for _, conn := range live {
		if _, err := conn.Subscribe(ctx, room, chatclient.Since(0)); err != nil {
			t.Fatal(err)
		}
	}
	away := dialQueue(t, chatclient.New(c.bases[1], chatclient.WithToken(bob.Token())))
	if _, err := away.Subscribe(ctx, room, chatclient.Since(0)); err != nil {
		t.Fatal(err)
	}
	var awayState chatclient.RoomState
	drain(t, ctx, away, &awayState, nil, from)
	away.Drop()

	// The burst: writers on both instances, all four verbs.
	a0 := chatclient.New(c.bases[0], chatclient.WithToken(alice.Token()))
	writers := []*chatclient.Client{owner, alice, bob, a0}
	var seqs []int64
	for i := 0; i < 40; i++ {
		w := writers[i%len(writers)]
		seqs = append(seqs, post(t, w, room, fmt.Sprint("burst ", i)))
		switch i % 5 {
		case 1:
			if _, err := w.EditMessage(ctx, room, seqs[i], fmt.Sprint("burst ", i, " edited"), ""); err != nil {
				t.Fatal(err)
			}
		case 2:
			for _, r := range writers[:3] {
				if _, err := r.AddReaction(ctx, room, seqs[i-1], "🔥", ""); err != nil {
					t.Fatal(err)
				}
			}
		case 3:
			if _, err := bob.RemoveReaction(ctx, room, seqs[i-2], "🔥", ""); err != nil {
				t.Fatal(err)
			}
			if _, err := w.DeleteMessage(ctx, room, seqs[i], ""); err != nil {
				t.Fatal(err)
			}
		case 4:
			if _, err := owner.DeleteMessage(ctx, room, seqs[i-2], ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	end, err := owner.Room(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	last := end.LastSeq

	var liveState [2]chatclient.RoomState
	var order [2][]string
	for i, conn := range live {
		drain(t, ctx, conn, &liveState[i], &order[i], last)
	}
	if !reflect.DeepEqual(order[0], order[1]) {
		t.Fatalf("the instances delivered different streams:\n%v\n%v", order[0], order[1])
	}
	if !reflect.DeepEqual(liveState[0], liveState[1]) {
		t.Fatal("live clients on the two instances disagree")
	}

	back := dialQueue(t, chatclient.New(c.bases[0], chatclient.WithToken(bob.Token())))
	if _, err := back.Subscribe(ctx, room, chatclient.Since(awayState.Last)); err != nil {
		t.Fatal(err)
	}
	drain(t, ctx, back, &awayState, nil, last)
	if !reflect.DeepEqual(awayState, liveState[0]) {
		t.Fatalf("the resumed client's state differs from the live one's:\n%s", diffStates(&awayState, &liveState[0]))
	}

	// From REST catch-up pages, from 0 and from the middle of the burst
	// on top of a live state.
	var paged chatclient.RoomState
	for after := int64(0); ; {
		p, err := bob.MessagesAfter(ctx, room, after, 37)
		if err != nil {
			t.Fatal(err)
		}
		paged.ApplyPage(p)
		if len(p.Messages) > 0 {
			after = p.Messages[len(p.Messages)-1].Seq
		}
		if !p.HasMore {
			break
		}
	}
	if !reflect.DeepEqual(paged, liveState[0]) {
		t.Fatalf("the state from ?after= pages differs:\n%s", diffStates(&paged, &liveState[0]))
	}
	if n := len(liveState[0].Messages); n < 40 {
		t.Fatalf("only %d messages in the state", n)
	}
}

// drain applies conn's room entries to st until seq last, checking that
// each seq comes once and in order after from.
func drain(t *testing.T, ctx context.Context, conn *chatclient.Conn, st *chatclient.RoomState, order *[]string, last int64) {
	t.Helper()
	for st.Last < last {
		e, err := conn.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for seq %d (at %d): %v", last, st.Last, err)
		}
		switch e.Type {
		case chatclient.TypeMessage, chatclient.TypeEdit, chatclient.TypeDelete, chatclient.TypeReaction:
		default:
			continue
		}
		if st.Last != 0 && e.Seq != st.Last+1 {
			t.Fatalf("seq %d after %d", e.Seq, st.Last)
		}
		st.Apply(&e)
		if order != nil {
			*order = append(*order, fmt.Sprintf("%d:%s:%d:%s%s", e.Seq, e.Type, e.Target, e.Emoji, e.Op))
		}
	}
}

func diffStates(a, b *chatclient.RoomState) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "last %d vs %d\n", a.Last, b.Last)
	for seq, m := range b.Messages {
		if o := a.Messages[seq]; o == nil || !reflect.DeepEqual(*o, *m) {
			fmt.Fprintf(&sb, "%d: %+v vs %+v\n", seq, o, *m)
		}
	}
	return sb.String()
}

// mentions: @name reaches every connection of a member, on both instances,
// subscribed to the room or not, and counts in GET /api/rooms until the
// read marker passes it; a non-member and the author get nothing.
func mentions(t *testing.T, c *eventsCluster, owner, alice, eve *chatclient.Client, room int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	carol, _ := c.user(t, 1, "Carol Ann")
	if err := carol.Join(ctx, room); err != nil {
		t.Fatal(err)
	}
	conns := []*chatclient.Conn{
		dialQueue(t, carol),
		dialQueue(t, chatclient.New(c.bases[0], chatclient.WithToken(carol.Token()))),
	}
	eveConn := dialQueue(t, eve)
	aliceConn := dialQueue(t, alice)
	seq := post(t, alice, room, "hello @carolann, @Eve and @alice!")
	for i, conn := range conns {
		e := nextOf(t, ctx, conn, chatclient.TypeMention)
		if e.Room != room || e.Seq != seq || e.User.Name != "Alice" || !strings.Contains(e.Body, "@carolann") {
			t.Fatalf("mention on connection %d: %+v", i, e)
		}
	}
	unread := func(cl *chatclient.Client) int64 {
		t.Helper()
		rooms, err := cl.Rooms(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rooms {
			if r.ID == room {
				return r.UnreadMentions
			}
		}
		return -1
	}
	if n := unread(carol); n != 1 {
		t.Fatalf("carol's unread mentions: %d, want 1", n)
	}
	if n := unread(alice); n != 0 {
		t.Fatalf("the author's unread mentions: %d, want 0", n)
	}
	post(t, owner, room, "and @CarolAnn again")
	if e := nextOf(t, ctx, conns[1], chatclient.TypeMention); e.User.Name != "Olga" {
		t.Fatalf("second mention: %+v", e)
	}
	if n := unread(carol); n != 2 {
		t.Fatalf("carol's unread mentions: %d, want 2", n)
	}
	if err := carol.MarkRead(ctx, room, seq); err != nil {
		t.Fatal(err)
	}
	if n := unread(carol); n != 1 {
		t.Fatalf("after reading up to the first: %d, want 1", n)
	}
	// Nothing for the non-member or the author: a ping's pong comes back
	// first, after anything queued before it.
	for name, conn := range map[string]*chatclient.Conn{"eve": eveConn, "alice": aliceConn} {
		noneOf(t, ctx, conn, chatclient.TypeMention, name)
	}
}

// roomsEvents: a change of someone's room list they did not make reaches
// every connection of theirs on both instances as a rooms event: a direct
// message opened with them, an invitation, a rename; a non-member of the
// room gets none.
func roomsEvents(t *testing.T, c *eventsCluster) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dan, danID := c.user(t, 1, "Dan Rooms")
	fay, _ := c.user(t, 0, "Fay Rooms")
	gus, _ := c.user(t, 0, "Gus Rooms")
	danConns := []*chatclient.Conn{dialQueue(t, dan), dialQueue(t, chatclient.New(c.bases[0], chatclient.WithToken(dan.Token())))}
	gusConn := dialQueue(t, gus)
	want := func(what, why string, room int64, conns ...*chatclient.Conn) {
		t.Helper()
		for i, conn := range conns {
			if e := nextOf(t, ctx, conn, chatclient.TypeRooms); e.Room != room || e.Why != why {
				t.Fatalf("%s on connection %d: %+v, want room %d why %q", what, i, e, room, why)
			}
		}
	}

	var dm struct {
		ID int64 `json:"id"`
	}
	if _, err := fay.Do(ctx, "POST", "/api/dms", map[string]any{"user_id": danID}, &dm); err != nil || dm.ID == 0 {
		t.Fatalf("open a DM: %+v %v", dm, err)
	}
	want("a DM opened with dan", "dm", dm.ID, danConns...)

	room, err := fay.CreateRoom(ctx, "fay's private", true)
	if err != nil {
		t.Fatal(err)
	}
	if err := fay.Invite(ctx, room.ID, danID); err != nil {
		t.Fatal(err)
	}
	want("an invitation", "invited", room.ID, danConns...)
	rooms, err := dan.Rooms(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range rooms {
		found = found || r.ID == room.ID
	}
	if !found {
		t.Fatal("dan's room list, reloaded on the event, lacks the room he was invited to")
	}

	if _, err := fay.Do(ctx, "PATCH", fmt.Sprintf("/api/rooms/%d", room.ID), map[string]any{"name": "fay's renamed"}, nil); err != nil {
		t.Fatal(err)
	}
	want("a rename", "updated", room.ID, danConns...)

	noneOf(t, ctx, gusConn, chatclient.TypeRooms, "gus, in none of it")
}

// noneOf fails if conn has an event of type typ queued: a ping's pong
// comes back after anything queued before it.
func noneOf(t *testing.T, ctx context.Context, conn *chatclient.Conn, typ, who string) {
	t.Helper()
	if err := conn.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	for {
		e, err := conn.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if e.Type == typ {
			t.Fatalf("%s got %+v", who, e)
		}
		if e.Type == chatclient.TypePong {
			return
		}
	}
}

func nextOf(t *testing.T, ctx context.Context, conn *chatclient.Conn, typ string) chatclient.Event {
	t.Helper()
	for {
		e, err := conn.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for %s: %v", typ, err)
		}
		if e.Type == typ {
			return e
		}
	}
}

// unreadCounts: edits and reactions take seqs but are not unread
// messages. A reader on the other instance sees its room list (the cached,
// composed answer) count only messages, follow its read marker, and
// ignore an event committed after it; message_count counts messages.
func unreadCounts(t *testing.T, c *eventsCluster) {
	ctx := context.Background()
	writer, _ := c.user(t, 0, "Unread Writer")
	reader, _ := c.user(t, 1, "Unread Reader")
	room, err := writer.CreateRoom(ctx, "unread counts", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := reader.Join(ctx, room.ID); err != nil {
		t.Fatal(err)
	}
	// The list is read on the other instance: its counters follow the
	// writer's instance through the bus, so it is polled briefly.
	want := func(what string, lastSeq, messages, unread int64) {
		t.Helper()
		var got chatclient.Room
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			rooms, err := reader.Rooms(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rooms {
				if r.ID == room.ID {
					got = r
				}
			}
			if got.LastSeq == lastSeq && got.MessageCount == messages && got.Unread == unread {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: last_seq %d, message_count %d, unread %d; want %d, %d, %d",
					what, got.LastSeq, got.MessageCount, got.Unread, lastSeq, messages, unread)
			}
		}
	}
	m1 := post(t, writer, room.ID, "one")
	m2 := post(t, writer, room.ID, "two")
	if _, err := writer.AddReaction(ctx, room.ID, m1, "👍", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := writer.EditMessage(ctx, room.ID, m2, "two, edited", ""); err != nil {
		t.Fatal(err)
	}
	m3 := post(t, writer, room.ID, "three")
	want("three messages, two events", m3, 3, 3)
	if err := reader.MarkRead(ctx, room.ID, m2+1); err != nil { // past the edit
		t.Fatal(err)
	}
	want("read up to the edit", m3, 3, 1)
	if _, err := writer.AddReaction(ctx, room.ID, m1, "🎉", ""); err != nil {
		t.Fatal(err)
	}
	want("a reaction to a read message", m3+1, 3, 1)
	m4 := post(t, writer, room.ID, "four")
	want("one more message", m4, 4, 2)
	if err := reader.MarkRead(ctx, room.ID, m4); err != nil {
		t.Fatal(err)
	}
	want("all read", m4, 4, 0)
	// The writer's own view on the writer's instance: its info carries
	// the message count too.
	info, err := writer.Room(ctx, room.ID)
	if err != nil || info.MessageCount != 4 || info.LastSeq != m4 {
		t.Fatalf("room info: %+v %v", info, err)
	}
}
