package store

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/chatgate/chatgate/chatcore"
)

// submitEvent runs one event through b and waits for its answer.
func submitEvent(t *testing.T, b *Batcher, req EventRequest) EventResult {
	t.Helper()
	ch := make(chan EventResult, 1)
	if err := b.SubmitEvent(req, func(r EventResult) { ch <- r }); err != nil {
		return EventResult{Err: err}
	}
	return <-ch
}

// TestEventsTwoInstances: two instances (stores with their own batchers)
// send messages and room events to one room at once, with reactions by the
// same users racing on both, and repeated cids. The room's seqs stay gap
// free over messages and events, every cid is stored once, each batcher's
// onCommit sees its room's entries in seq order, and the stored state
// (reactions, rev) is the fold of the stored events.
func TestEventsTwoInstances(t *testing.T) {
	reset(t)
	owner := mkUser(t, testStore, "owner")
	room := mkRoom(t, testStore, owner.ID, "events", false).ID
	var users []chatcore.User
	for i := 0; i < 6; i++ {
		u := mkUser(t, testStore, fmt.Sprint("u", i))
		if _, err := testStore.Join(ctxT(t), room, u.ID, chatcore.RoleMember); err != nil {
			t.Fatal(err)
		}
		users = append(users, u)
	}
	target := testStore.NewBatcher(nil)
	target.Start()
	var targets []int64
	for i := 0; i < 4; i++ {
		res := target.Send(ctxT(t), SendRequest{Room: room, UserID: owner.ID, Body: fmt.Sprint("target ", i)})
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		targets = append(targets, res.Msg.Seq)
	}
	if err := target.Stop(ctxT(t)); err != nil {
		t.Fatal(err)
	}

	// Each instance's onCommit sees the room in ascending seq order, across
	// calls (the other instance's commits fall in between: the hub's
	// reorder buffer gets those from the bus).
	var cmu sync.Mutex
	var orderErrs []string
	lastSeen := [2]int64{}
	var bs []*Batcher
	for i := 0; i < 2; i++ {
		onCommit := func(msgs []chatcore.Message) {
			cmu.Lock()
			defer cmu.Unlock()
			for _, m := range msgs {
				if m.Seq <= lastSeen[i] {
					orderErrs = append(orderErrs, fmt.Sprintf("instance %d: seq %d after %d", i, m.Seq, lastSeen[i]))
				}
				lastSeen[i] = m.Seq
			}
		}
		b := newStore(t, Config{MaxConns: 3}).NewBatcher(onCommit)
		b.Start()
		bs = append(bs, b)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i, b := range bs {
		for _, u := range users {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx := ctxT(t)
				for k := 0; k < 20; k++ {
					tgt := targets[k%len(targets)]
					kind := chatcore.KindReact
					if k%3 == 2 {
						kind = chatcore.KindUnreact
					}
					// The same user and cid on both instances: stored once.
					cid := fmt.Sprintf("%d-%d", u.ID, k)
					res := submitEvent(t, b, EventRequest{Room: room, UserID: u.ID, Kind: kind, Target: tgt, Body: []string{"👍", "🎉"}[k%2], CID: cid, MaxReactions: 20})
					if res.Err != nil {
						errs <- fmt.Errorf("instance %d: %v", i, res.Err)
						return
					}
					if r := b.Send(ctx, SendRequest{Room: room, UserID: u.ID, Body: fmt.Sprint("m", k), CID: fmt.Sprintf("m-%d-%d-%d", i, u.ID, k)}); r.Err != nil {
						errs <- r.Err
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, b := range bs {
		if err := b.Stop(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	}
	if len(orderErrs) > 0 {
		t.Fatalf("onCommit order: %v", orderErrs)
	}

	last, err := testStore.LastSeq(ctxT(t), room)
	if err != nil {
		t.Fatal(err)
	}
	all, err := testStore.Range(ctxT(t), room, 1, last)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(all)) != last {
		t.Fatalf("%d entries for last_seq %d", len(all), last)
	}
	// Fold the events into the targets, as a client does from seq 1.
	type key struct {
		seq   int64
		emoji string
	}
	folded := map[key][]int64{}
	rev := map[int64]int64{}
	cids := map[string]bool{}
	for i, m := range all {
		if m.Seq != int64(i+1) {
			t.Fatalf("entry %d has seq %d", i, m.Seq)
		}
		if m.Kind == chatcore.KindMessage {
			continue
		}
		if cids[fmt.Sprint(m.User.ID, m.CID)] {
			t.Fatalf("cid %q of user %d stored twice", m.CID, m.User.ID)
		}
		cids[fmt.Sprint(m.User.ID, m.CID)] = true
		k := key{m.Target, m.Body}
		has := slices.Contains(folded[k], m.User.ID)
		switch {
		case m.Kind == chatcore.KindReact && !has:
			folded[k] = append(folded[k], m.User.ID)
		case m.Kind == chatcore.KindUnreact && has:
			folded[k] = slices.DeleteFunc(folded[k], func(u int64) bool { return u == m.User.ID })
		default:
			t.Fatalf("event %+v changes nothing: it should have been a no-op", m)
		}
		rev[m.Target] = m.Seq
	}
	for _, m := range all {
		if m.Kind != chatcore.KindMessage || !slices.Contains(targets, m.Seq) {
			continue
		}
		if m.Rev != rev[m.Seq] {
			t.Fatalf("target %d: rev %d, last event %d", m.Seq, m.Rev, rev[m.Seq])
		}
		got := map[string][]int64{}
		for _, r := range m.Reactions {
			got[r.Emoji] = slices.Sorted(slices.Values(r.Users))
		}
		for _, emoji := range []string{"👍", "🎉"} {
			want := slices.Sorted(slices.Values(folded[key{m.Seq, emoji}]))
			if !slices.Equal(got[emoji], want) {
				t.Fatalf("target %d %s: stored %v, folded %v", m.Seq, emoji, got[emoji], want)
			}
		}
	}
}

// TestUnreadCountsMessagesNotEvents: room events take seqs but are not
// unread messages. The room's message count, a member's unread count in
// the room list and the counters the gateway caches all leave them out,
// for a read marker below, among and above the events, and an event
// committed after the marker (a reaction to a read message) leaves the
// count alone.
func TestUnreadCountsMessagesNotEvents(t *testing.T) {
	reset(t)
	owner := mkUser(t, testStore, "owner")
	reader := mkUser(t, testStore, "reader")
	room := mkRoom(t, testStore, owner.ID, "unread", false).ID
	if _, err := testStore.Join(ctxT(t), room, reader.ID, chatcore.RoleMember); err != nil {
		t.Fatal(err)
	}
	b := testStore.NewBatcher(nil)
	b.Start()
	defer b.Stop(ctxT(t)) //nolint:errcheck
	send := func(body string) int64 {
		t.Helper()
		res := b.Send(ctxT(t), SendRequest{Room: room, UserID: owner.ID, Body: body})
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		return res.Msg.Seq
	}
	event := func(kind chatcore.Kind, target int64, body string) {
		t.Helper()
		if res := submitEvent(t, b, EventRequest{Room: room, UserID: owner.ID, Kind: kind, Target: target, Body: body}); res.Err != nil || res.Noop {
			t.Fatalf("event %d on %d: %+v", kind, target, res)
		}
	}
	unread := func(want, wantMessages int64) {
		t.Helper()
		rooms, err := testStore.ListRooms(ctxT(t), reader.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rooms {
			if r.ID != room {
				continue
			}
			if r.Unread != want || r.MessageCount != wantMessages {
				t.Fatalf("list: unread %d of %d messages, want %d of %d (last_seq %d, read %d)", r.Unread, r.MessageCount, want, wantMessages, r.LastSeq, r.LastReadSeq)
			}
			got, err := testStore.RoomCounters(ctxT(t), []int64{room})
			if err != nil || got[room].Seq != r.LastSeq || got[room].Messages() != wantMessages {
				t.Fatalf("counters %+v %v, list last_seq %d", got[room], err, r.LastSeq)
			}
			mine, err := testStore.UserRooms(ctxT(t), reader.ID)
			if err != nil || len(mine) != 1 {
				t.Fatalf("user rooms %+v %v", mine, err)
			}
			if u := chatcore.UnreadMessages(got[room].Messages(), mine[0].LastRead, mine[0].ReadEvents); u != want {
				t.Fatalf("composed unread %d, want %d (%+v)", u, want, mine[0])
			}
			return
		}
		t.Fatalf("room %d not listed", room)
	}

	m1, m2 := send("one"), send("two")
	event(chatcore.KindReact, m1, "👍")
	event(chatcore.KindEdit, m2, "two, edited")
	m3 := send("three")
	event(chatcore.KindReact, m3, "🎉")
	unread(3, 3) // seqs 1..6, three of them events

	mark := func(seq int64) {
		t.Helper()
		if err := testStore.MarkRead(ctxT(t), room, reader.ID, seq); err != nil {
			t.Fatal(err)
		}
	}
	mark(m2) // messages 1 and 2 and the reaction between them read
	unread(1, 3)
	mark(m2 + 1) // the edit after m2: still one message unread
	unread(1, 3)
	mark(m1) // never back
	unread(1, 3)
	event(chatcore.KindDelete, m1, "") // an event about a read message
	unread(1, 3)
	send("four")
	unread(2, 4)
	mark(m3 + 100) // past the newest: everything read, never negative
	unread(0, 4)
	event(chatcore.KindReact, m3, "👀")
	unread(0, 4)

	// A late joiner starts at the room's last seq with its events counted:
	// history is not unread, and the next message is one.
	late := mkUser(t, testStore, "late")
	if _, err := testStore.Join(ctxT(t), room, late.ID, chatcore.RoleMember); err != nil {
		t.Fatal(err)
	}
	m5 := send("five")
	rooms, err := testStore.ListRooms(ctxT(t), late.ID)
	if err != nil || len(rooms) != 1 || rooms[0].Unread != 1 || rooms[0].LastReadSeq != m5-1 {
		t.Fatalf("late joiner: %+v %v", rooms, err)
	}
}

// TestMentionsInFlush: a message's mentions are stored by its flush, in
// its transaction: members named (spaces removed, any case) are recorded
// at the message's seq and returned with it; the author and non-members
// are not; a message whose flush part fails (a file already taken) leaves
// no mention behind; and nothing after the commit is needed (this batcher
// has no onCommit at all).
func TestMentionsInFlush(t *testing.T) {
	reset(t)
	s := testStore
	ann, bob, carol := mkUser(t, s, "ann"), mkUser(t, s, "Bob Smith"), mkUser(t, s, "carol")
	mkUser(t, s, "dave") // not a member
	room := mkRoom(t, s, ann.ID, "r", false).ID
	for _, u := range []int64{bob.ID, carol.ID} {
		if _, err := s.Join(ctxT(t), room, u, chatcore.RoleMember); err != nil {
			t.Fatal(err)
		}
	}
	f1 := mkFile(t, s, room, ann.ID, "one")
	b := s.NewBatcher(nil)
	results := make(chan SendResult, 4)
	reqs := []SendRequest{
		{Room: room, UserID: ann.ID, Body: "a", Mentions: []string{"bobsmith", "carol", "dave", "ann", "nobody"}, Files: []chatcore.File{f1}},
		{Room: room, UserID: bob.ID, Body: "b"},
		{Room: room, UserID: carol.ID, Body: "c", Mentions: []string{"bobsmith", "carol"}},
		{Room: room, UserID: ann.ID, Body: "d", Mentions: []string{"carol"}, Files: []chatcore.File{f1}},
	}
	for _, r := range reqs {
		body := r.Body
		if err := b.Submit(r, func(res SendResult) { res.Msg.Body = body; results <- res }); err != nil {
			t.Fatal(err)
		}
	}
	b.Start()             // queued before the flusher starts: one flush
	defer b.Stop(ctxT(t)) //nolint:errcheck
	got := map[string]SendResult{}
	for range reqs {
		r := <-results
		got[r.Msg.Body] = r
	}
	if !errors.Is(got["d"].Err, ErrFileTaken) {
		t.Fatalf("d: %v, want ErrFileTaken", got["d"].Err)
	}
	for body, want := range map[string][]int64{"a": {bob.ID, carol.ID}, "b": nil, "c": {bob.ID}} {
		r := got[body]
		mentioned := slices.Clone(r.Msg.Mentioned)
		slices.Sort(mentioned)
		if r.Err != nil || !slices.Equal(mentioned, want) {
			t.Fatalf("%s: %+v, mentioned %v, want %v", body, r.Err, mentioned, want)
		}
	}
	rows, err := s.pool.Query(ctxT(t), "SELECT user_id, seq FROM mentions WHERE room_id = $1 ORDER BY seq, user_id", room)
	if err != nil {
		t.Fatal(err)
	}
	var stored [][2]int64
	for rows.Next() {
		var u, seq int64
		if err := rows.Scan(&u, &seq); err != nil {
			t.Fatal(err)
		}
		stored = append(stored, [2]int64{u, seq})
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := [][2]int64{{bob.ID, got["a"].Msg.Seq}, {carol.ID, got["a"].Msg.Seq}, {bob.ID, got["c"].Msg.Seq}}
	if !slices.Equal(stored, want) {
		t.Fatalf("mentions table %v, want %v (seqs a %d c %d)", stored, want, got["a"].Msg.Seq, got["c"].Msg.Seq)
	}
	// The room list counts them for the mentioned.
	mine, err := s.UserRooms(ctxT(t), bob.ID)
	if err != nil || len(mine) != 1 || mine[0].Mentions != 2 {
		t.Fatalf("bob's rooms %+v %v", mine, err)
	}
}
