package main

import "testing"

func newStarted(last int64) *seqTracker {
	t := &seqTracker{}
	t.subscribed(last)
	return t
}

func TestTrackerInOrder(t *testing.T) {
	tr := newStarted(10)
	for s := int64(11); s <= 15; s++ {
		if got := tr.receive(s); got != arrNew {
			t.Fatalf("seq %d: got %v, want arrNew", s, got)
		}
	}
	if tr.delivered != 5 || tr.duplicated != 0 || tr.reordered != 0 || tr.gaps != 0 {
		t.Fatalf("counts: %+v", tr)
	}
	if !tr.complete(15) || tr.complete(16) {
		t.Fatal("complete() wrong")
	}
	if got := tr.expected(15); got != 5 {
		t.Fatalf("expected = %d, want 5", got)
	}
	if got := tr.lost(15); got != 0 {
		t.Fatalf("lost = %d, want 0", got)
	}
	// Two more were stored but never arrived.
	if got := tr.lost(17); got != 2 {
		t.Fatalf("lost(17) = %d, want 2", got)
	}
}

func TestTrackerDuplicate(t *testing.T) {
	tr := newStarted(0)
	tr.receive(1)
	tr.receive(2)
	if got := tr.receive(2); got != arrDup {
		t.Fatalf("got %v, want arrDup", got)
	}
	if got := tr.receive(1); got != arrDup {
		t.Fatalf("got %v, want arrDup", got)
	}
	// A seq at or below the base was never asked for: also a duplicate.
	tr2 := newStarted(5)
	if got := tr2.receive(5); got != arrDup {
		t.Fatalf("got %v, want arrDup for seq at base", got)
	}
	if tr.duplicated != 2 || tr.delivered != 2 {
		t.Fatalf("counts: %+v", tr)
	}
}

func TestTrackerGapThenLateArrivalIsReorder(t *testing.T) {
	tr := newStarted(0)
	tr.receive(1)
	if got := tr.receive(3); got != arrNewGap {
		t.Fatalf("got %v, want arrNewGap", got)
	}
	if !tr.hasHole() {
		t.Fatal("hole expected after a gap")
	}
	if got := tr.receive(3); got != arrDup {
		t.Fatalf("second 3: got %v, want arrDup", got)
	}
	if got := tr.receive(2); got != arrNew {
		t.Fatalf("late 2: got %v, want arrNew", got)
	}
	if tr.reordered != 1 || tr.gaps != 1 || tr.duplicated != 1 || tr.delivered != 3 {
		t.Fatalf("counts: %+v", tr)
	}
	if tr.hasHole() || !tr.complete(3) || tr.lost(3) != 0 {
		t.Fatal("hole should be filled")
	}
}

func TestTrackerFillFromREST(t *testing.T) {
	tr := newStarted(0)
	tr.receive(1)
	tr.receive(4)
	if !tr.fill(2) || !tr.fill(3) {
		t.Fatal("fill of missing seqs must succeed")
	}
	if tr.fill(3) || tr.fill(4) || tr.fill(1) {
		t.Fatal("fill of present seqs must be refused")
	}
	if tr.recovered != 2 || tr.reordered != 0 || tr.delivered != 4 || tr.hasHole() {
		t.Fatalf("counts: %+v", tr)
	}
}

func TestTrackerLostCountsHolesAndTail(t *testing.T) {
	tr := newStarted(0)
	tr.receive(1)
	tr.receive(3)
	tr.receive(5)
	// missing: 2, 4 (holes) and 6, 7 (tail)
	if got := tr.lost(7); got != 4 {
		t.Fatalf("lost = %d, want 4", got)
	}
	if got := tr.expected(7); got != 7 {
		t.Fatalf("expected = %d, want 7", got)
	}
	if tr.expected(7)-tr.lost(7) != tr.delivered {
		t.Fatal("expected - lost must equal delivered")
	}
}

func TestTrackerResubscribeReplayIsNotDuplicate(t *testing.T) {
	tr := newStarted(0)
	tr.receive(1)
	tr.receive(3) // hole at 2, then the connection drops
	if since := tr.since(); since != 1 {
		t.Fatalf("since = %d, want 1", since)
	}
	// The server replays 2, 3, then goes live with 4.
	if got := tr.receive(2); got != arrNew {
		t.Fatalf("replayed 2: got %v", got)
	}
	if got := tr.receive(3); got != arrRepeat {
		t.Fatalf("replayed 3: got %v, want arrRepeat", got)
	}
	tr.receive(4)
	if tr.duplicated != 0 || tr.reordered != 0 || tr.recovered != 1 || tr.delivered != 4 {
		t.Fatalf("counts: %+v", tr)
	}
	// Past the replay window a repeat is a real duplicate again.
	if got := tr.receive(4); got != arrDup {
		t.Fatalf("got %v, want arrDup", got)
	}
}

func TestTrackerReplayOverlappingSinceIsDuplicate(t *testing.T) {
	tr := newStarted(0)
	tr.receive(1)
	tr.receive(2)
	tr.since() // asks for > 2
	if got := tr.receive(2); got != arrDup {
		t.Fatalf("server replayed seq ≤ since: got %v, want arrDup", got)
	}
}

func TestTrackerHeldBeforeSubscribed(t *testing.T) {
	tr := &seqTracker{}
	if got := tr.receive(8); got != arrHeld {
		t.Fatalf("got %v, want arrHeld", got)
	}
	// The reply says last_seq 8: the live message overtook it and still
	// counts as delivered, not as a duplicate.
	tr.subscribed(8)
	if tr.base != 7 || tr.delivered != 1 || tr.duplicated != 0 || tr.next != 9 {
		t.Fatalf("state: %+v", tr)
	}
	// A later subscribed reply (resubscribe) does not move the base.
	tr.subscribed(20)
	if tr.base != 7 {
		t.Fatalf("base moved to %d", tr.base)
	}
}

func TestTrackerNeverStarted(t *testing.T) {
	tr := &seqTracker{}
	if tr.expected(10) != 0 || tr.lost(10) != 0 || tr.complete(0) || tr.fill(1) {
		t.Fatal("an unsubscribed tracker owes and holds nothing")
	}
}

func TestTrackerDeliveredUpTo(t *testing.T) {
	tr := newStarted(10)
	for _, s := range []int64{11, 12, 14, 16} {
		tr.receive(s)
	}
	cases := map[int64]int64{10: 0, 11: 1, 12: 2, 13: 2, 14: 3, 15: 3, 16: 4, 20: 4}
	for final, want := range cases {
		if got := tr.deliveredUpTo(final); got != want {
			t.Errorf("deliveredUpTo(%d) = %d, want %d", final, got, want)
		}
		// The books always balance: owed = delivered + lost.
		if tr.expected(final) != tr.deliveredUpTo(final)+tr.lost(final) {
			t.Errorf("final %d: expected %d != delivered %d + lost %d", final, tr.expected(final), tr.deliveredUpTo(final), tr.lost(final))
		}
	}
}
