package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/chatgate/chatgate/chatcore"
)

// bothPlans runs f once per search plan, forced (the cost model picks
// byIndex on tables this small).
func bothPlans(t *testing.T, f func(t *testing.T, search func(Search) ([]SearchHit, bool, error))) {
	for _, byTime := range []bool{false, true} {
		name := map[bool]string{false: "byIndex", true: "byTime"}[byTime]
		t.Run(name, func(t *testing.T) {
			f(t, func(q Search) ([]SearchHit, bool, error) {
				return testStore.search(ctxT(t), q, &byTime)
			})
		})
	}
}

func send(t *testing.T, b *Batcher, room, user int64, body string) chatcore.Message {
	t.Helper()
	res := b.Send(ctxT(t), SendRequest{Room: room, UserID: user, Body: body})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	return res.Msg
}

func hitKeys(hits []SearchHit) []string {
	out := []string{}
	for _, h := range hits {
		out = append(out, fmt.Sprintf("%d/%d", h.Msg.Room, h.Msg.Seq))
	}
	return out
}

// TestSearchSeesOnlyLiveMessagesOfOwnRooms: results come only from rooms
// the caller is in (a left room's messages go at once), never a deleted
// message, and an edited one by its new text only.
func TestSearchSeesOnlyLiveMessagesOfOwnRooms(t *testing.T) {
	reset(t)
	s := testStore
	ctx := ctxT(t)
	ann, bob := mkUser(t, s, "ann"), mkUser(t, s, "bob")
	shared := mkRoom(t, s, ann.ID, "shared", false)
	annOnly := mkRoom(t, s, ann.ID, "ann-only", true)
	bobOnly := mkRoom(t, s, bob.ID, "bob-only", false)
	if _, err := s.Join(ctx, shared.ID, bob.ID, chatcore.RoleMember); err != nil {
		t.Fatal(err)
	}
	b := s.NewBatcher(nil)
	b.Start()
	defer b.Stop(context.Background()) //nolint:errcheck
	inShared := send(t, b, shared.ID, ann.ID, "the quick brown fox jumps")
	send(t, b, shared.ID, ann.ID, "a lazy dog sleeps")
	send(t, b, annOnly.ID, ann.ID, "a fox in ann's private room")
	inBobs := send(t, b, bobOnly.ID, bob.ID, "foxes everywhere")
	toDelete := send(t, b, bobOnly.ID, bob.ID, "this fox will be deleted")
	toEdit := send(t, b, bobOnly.ID, bob.ID, "this fox will be edited")

	bothPlans(t, func(t *testing.T, search func(Search) ([]SearchHit, bool, error)) {
		want := func(q Search, keys ...string) {
			t.Helper()
			hits, more, err := search(q)
			if err != nil || more || !slices.Equal(hitKeys(hits), append([]string{}, keys...)) {
				t.Fatalf("search %+v: %v more=%v err=%v; want %v", q, hitKeys(hits), more, err, keys)
			}
		}
		key := func(m chatcore.Message) string { return fmt.Sprintf("%d/%d", m.Room, m.Seq) }
		// English stemming: "foxes" is found by "fox", newest first.
		want(Search{User: bob.ID, Text: "fox"}, key(toEdit), key(toDelete), key(inBobs), key(inShared))
		want(Search{User: bob.ID, Text: "fox", Room: shared.ID}, key(inShared))
		// A room bob is not in, asked for by name: nothing.
		want(Search{User: bob.ID, Text: "fox", Room: annOnly.ID})
		want(Search{User: ann.ID, Text: "fox"}, fmt.Sprintf("%d/1", annOnly.ID), key(inShared))
	})

	// Real room events: a delete, an edit and a reaction are rows of
	// messages too (events.go), and only the messages they change may be
	// found, by their current text; never the event rows themselves.
	for _, req := range []EventRequest{
		{Room: toDelete.Room, UserID: bob.ID, Kind: chatcore.KindDelete, Target: toDelete.Seq},
		{Room: toEdit.Room, UserID: bob.ID, Kind: chatcore.KindEdit, Target: toEdit.Seq, Body: "now about a wolf"},
		{Room: toEdit.Room, UserID: bob.ID, Kind: chatcore.KindReact, Target: toEdit.Seq, Body: ":wolf:"},
	} {
		if res := submitEvent(t, b, req); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	if _, err := s.Leave(ctx, shared.ID, bob.ID); err != nil {
		t.Fatal(err)
	}
	bothPlans(t, func(t *testing.T, search func(Search) ([]SearchHit, bool, error)) {
		hits, _, err := search(Search{User: bob.ID, Text: "fox"})
		if err != nil || !slices.Equal(hitKeys(hits), []string{fmt.Sprintf("%d/%d", inBobs.Room, inBobs.Seq)}) {
			t.Fatalf("after delete, edit and leave: %v %v", hitKeys(hits), err)
		}
		hits, _, err = search(Search{User: bob.ID, Text: "wolf"})
		if err != nil || len(hits) != 1 || hits[0].Msg.Body != "now about a wolf" || hits[0].Msg.Seq != toEdit.Seq {
			t.Fatalf("edited message by its new text, once (not its edit or reaction event): %+v %v", hits, err)
		}
		if hits, _, err := search(Search{User: bob.ID, Text: "fox", Room: shared.ID}); err != nil || len(hits) != 0 {
			t.Fatalf("left room, filtered: %v %v", hitKeys(hits), err)
		}
	})
}

// TestSearchPagingStableAndComplete pages through 3 rooms whose messages
// share timestamps (one per batch flush) with both plans: every match
// exactly once, newest first, also while new messages arrive between
// pages.
func TestSearchPagingStableAndComplete(t *testing.T) {
	reset(t)
	s := testStore
	ann := mkUser(t, s, "ann")
	var rooms []int64
	for i := 0; i < 3; i++ {
		rooms = append(rooms, mkRoom(t, s, ann.ID, fmt.Sprintf("r%d", i), false).ID)
	}
	b := s.NewBatcher(nil)
	b.Start()
	defer b.Stop(context.Background()) //nolint:errcheck
	var reqs []SendRequest
	for i := 0; i < 90; i++ {
		body := fmt.Sprintf("apple number %d", i)
		if i%4 == 3 {
			body = fmt.Sprintf("banana number %d", i)
		}
		reqs = append(reqs, SendRequest{Room: rooms[i%3], UserID: ann.ID, Body: body})
	}
	submitAll(t, b, reqs) // concurrent: flushes of many messages share created_at

	var shared int
	if err := s.pool.QueryRow(ctxT(t), "SELECT count(*) - count(DISTINCT created_at) FROM messages").Scan(&shared); err != nil || shared == 0 {
		t.Fatalf("no two messages share a timestamp (%d, %v): the tie-break is untested", shared, err)
	}

	bothPlans(t, func(t *testing.T, search func(Search) ([]SearchHit, bool, error)) {
		// Every apple, in the order a search must give (the first plan's
		// run added one).
		var want []string
		rows, err := s.pool.Query(ctxT(t), `SELECT room_id || '/' || seq FROM messages WHERE body LIKE 'apple%'
			ORDER BY created_at DESC, room_id DESC, seq DESC`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var k string
			rows.Scan(&k) //nolint:errcheck
			want = append(want, k)
		}
		rows.Close()
		if len(want) < 68 {
			t.Fatalf("%d apples stored, want 68 or more", len(want))
		}
		var got []string
		q := Search{User: ann.ID, Text: "apple", Limit: 7}
		for page := 0; ; page++ {
			hits, more, err := search(q)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, hitKeys(hits)...)
			if page == 2 {
				// Newer messages arrive mid-way: they are above the
				// cursor, so the pages go on as if they were not there.
				send(t, b, rooms[0], ann.ID, "apple that came late")
			}
			if !more {
				break
			}
			last := hits[len(hits)-1].Msg
			q.Before = &SearchCursor{TS: last.TS, Room: last.Room, Seq: last.Seq}
			if page > 20 {
				t.Fatal("paging does not end")
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("pages:\n got %v\nwant %v", got, want)
		}
	})
}

func TestSearchSnippetsAndBadQueries(t *testing.T) {
	reset(t)
	s := testStore
	ann := mkUser(t, s, "ann")
	r := mkRoom(t, s, ann.ID, "r", false)
	b := s.NewBatcher(nil)
	b.Start()
	defer b.Stop(context.Background()) //nolint:errcheck
	body := "<img src=x onerror=alert(1)> markers \x01 and \x02 around the treasure, then <b>bold</b>"
	send(t, b, r.ID, ann.ID, body)
	hits, _, err := s.SearchMessages(ctxT(t), Search{User: ann.ID, Text: "treasure"})
	if err != nil || len(hits) != 1 {
		t.Fatalf("%+v %v", hits, err)
	}
	if hits[0].Msg.Body != body {
		t.Fatalf("body changed: %q", hits[0].Msg.Body)
	}
	var text strings.Builder
	var matched []string
	for _, p := range hits[0].Snippet {
		text.WriteString(p.Text)
		if p.Match {
			matched = append(matched, p.Text)
		}
	}
	if !slices.Equal(matched, []string{"treasure"}) {
		t.Fatalf("matched parts %q in %+v", matched, hits[0].Snippet)
	}
	if strings.ContainsAny(text.String(), "\x01\x02") || !strings.Contains(text.String(), "markers \uFFFD and \uFFFD around the ") {
		t.Fatalf("snippet text %q", text.String())
	}

	for q, want := range map[string]error{
		"the of and":  ErrSearchNoWords,
		"!!! ???":     ErrSearchNoWords,
		"-treasure":   ErrSearchOnlyNegated,
		"treasure -x": nil,
		// Quotes and backslashes reach Postgres intact (the simple
		// protocol quotes them) and mean nothing special.
		`it's o'clock \ "treasure's" \'`: nil,
	} {
		_, _, err := s.SearchMessages(ctxT(t), Search{User: ann.ID, Text: q})
		if (want == nil && err != nil) || (want != nil && (!errors.Is(err, want) || !errors.Is(err, chatcore.ErrInvalidInput))) {
			t.Errorf("%q: %v, want %v", q, err, want)
		}
	}
}

// TestSearchLanguageChange: a change of search_language applies to new
// messages without a rewrite, and older ones stay findable in theirs.
func TestSearchLanguageChange(t *testing.T) {
	dsn := dsnWithDB(t, "chatgate_test_search_lang")
	admin := newStore(t, Config{})
	if _, err := admin.pool.Exec(ctxT(t), "DROP DATABASE IF EXISTS chatgate_test_search_lang"); err != nil {
		t.Fatal(err)
	}
	open := func(lang string) *Store {
		s := newStore(t, Config{DSN: dsn, SearchLanguage: lang})
		if err := s.Migrate(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		return s
	}
	en := open("english")
	u := mkUser(t, en, "ann")
	r := mkRoom(t, en, u.ID, "r", false)
	b := en.NewBatcher(nil)
	b.Start()
	old := send(t, b, r.ID, u.ID, "running quickly")
	if err := b.Stop(ctxT(t)); err != nil {
		t.Fatal(err)
	}

	simple := open("simple")
	b = simple.NewBatcher(nil)
	b.Start()
	newer := send(t, b, r.ID, u.ID, "running the show")
	if err := b.Stop(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	var cfgs []string
	rows, _ := simple.pool.Query(ctxT(t), "SELECT search_config::text FROM messages ORDER BY seq")
	for rows.Next() {
		var c string
		rows.Scan(&c) //nolint:errcheck
		cfgs = append(cfgs, c)
	}
	rows.Close()
	if !slices.Equal(cfgs, []string{"english", "simple"}) {
		t.Fatalf("configurations per message: %v", cfgs)
	}
	search := func(text string) []int64 {
		hits, _, err := simple.SearchMessages(ctxT(t), Search{User: u.ID, Text: text})
		if err != nil {
			t.Fatal(err)
		}
		var seqs []int64
		for _, h := range hits {
			seqs = append(seqs, h.Msg.Seq)
		}
		return seqs
	}
	if got := search("running"); !slices.Equal(got, []int64{newer.Seq, old.Seq}) {
		t.Fatalf("running: %v", got)
	}
	// "run" is english's stem of the old message; the new one is analysed
	// without stemming ("simple") and holds "running" only.
	if got := search("run"); !slices.Equal(got, []int64{old.Seq}) {
		t.Fatalf("run: %v", got)
	}
	// "the" is an english stop word but a word in "simple".
	if got := search("the"); !slices.Equal(got, []int64{newer.Seq}) {
		t.Fatalf("the: %v", got)
	}

	s := newStore(t, Config{DSN: dsn, SearchLanguage: "klingon"})
	if err := s.Migrate(ctxT(t)); err == nil || !strings.Contains(err.Error(), `search_language "klingon": no such text search configuration`) {
		t.Fatalf("unknown language: %v", err)
	}
}
