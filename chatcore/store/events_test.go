package store

import (
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
