package chatclient

import (
	"reflect"
	"testing"
)

// TestRoomStateRev: an event at or below its target's rev is already in
// the target's state and must not move it back (a catch-up that replays
// older events over a current snapshot shows no stale text meanwhile);
// later ones apply in order.
func TestRoomStateRev(t *testing.T) {
	var s RoomState
	s.Apply(&Event{Type: TypeMessage, Seq: 1, User: UserRef{ID: 1}, Body: "v2", EditedAt: "t", Rev: 4,
		Reactions: Reactions(`[{"emoji":"👍","users":[2]}]`)})
	for _, e := range []Event{
		{Type: TypeEdit, Seq: 2, Target: 1, Body: "v1"},
		{Type: TypeReaction, Seq: 3, Target: 1, User: UserRef{ID: 3}, Emoji: "👍", Op: "add"},
		{Type: TypeEdit, Seq: 4, Target: 1, Body: "v2"},
	} {
		s.Apply(&e)
		if m := s.Messages[1]; m.Body != "v2" || !reflect.DeepEqual(m.Reactions, []Reaction{{Emoji: "👍", Users: []int64{2}}}) {
			t.Fatalf("after the old event %d: %+v", e.Seq, *m)
		}
	}
	s.Apply(&Event{Type: TypeReaction, Seq: 5, Target: 1, User: UserRef{ID: 3}, Emoji: "👍", Op: "add"})
	s.Apply(&Event{Type: TypeReaction, Seq: 6, Target: 1, User: UserRef{ID: 2}, Emoji: "👍", Op: "remove"})
	s.Apply(&Event{Type: TypeReaction, Seq: 7, Target: 1, User: UserRef{ID: 2}, Emoji: "🎉", Op: "add"})
	s.Apply(&Event{Type: TypeEdit, Seq: 8, Target: 1, Body: "v3"})
	want := MessageState{Seq: 1, User: 1, Body: "v3", Edited: true, Rev: 8,
		Reactions: []Reaction{{Emoji: "👍", Users: []int64{3}}, {Emoji: "🎉", Users: []int64{2}}}}
	if got := *s.Messages[1]; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	s.Apply(&Event{Type: TypeDelete, Seq: 9, Target: 1})
	if m := s.Messages[1]; !m.Deleted || m.Body != "" || m.Reactions != nil || s.Last != 9 {
		t.Fatalf("after delete: %+v (last %d)", *m, s.Last)
	}
	if !want.Reactions[0].Mine(3) || want.Reactions[0].Mine(2) || want.Reactions[0].Count() != 1 {
		t.Fatal("Mine/Count")
	}
}
