package main

// seqTracker does the exactly-once, in-order accounting for one member of one
// room. It is pure (no clock, no I/O) so every rule is unit-tested.
//
// Vocabulary: "next" is the lowest seq not yet received; everything below it
// has arrived. Arrivals above next wait in "ahead" until the hole fills.
type seqTracker struct {
	started bool
	base    int64 // last_seq at the first subscribe: deliveries expected from base+1
	next    int64
	maxSeen int64
	ahead   map[int64]struct{}
	held    []int64 // arrivals before the first subscribed reply
	// After a resubscribe with since=next-1 the server replays everything
	// above next again, including what already sat in ahead: those repeats
	// (replay) were asked for, not duplicates, and holes below replayTo
	// filled by the replay are recoveries, not reorders.
	replay   map[int64]struct{}
	replayTo int64

	delivered  int64 // unique seqs received in (base, ...]
	duplicated int64 // a seq received again
	reordered  int64 // a new seq that arrived after a higher one on the stream
	gaps       int64 // jumps over missing seqs on a live stream
	recovered  int64 // seqs filled by a REST after= fetch or a since replay
}

// arrival says what a received seq meant.
type arrival int

const (
	arrNew arrival = iota
	arrNewGap
	arrDup
	arrRepeat // expected repeat after a resubscribe: ignore
	arrHeld   // before the first subscribed reply: decided later
)

// subscribed handles a subscribed reply. Only the first one sets the base;
// resubscribes carry since and change nothing here.
func (t *seqTracker) subscribed(lastSeq int64) {
	if t.started {
		return
	}
	t.started = true
	t.base = lastSeq
	// A live message may overtake the reply; never count it as unexpected.
	for _, s := range t.held {
		if s-1 < t.base {
			t.base = s - 1
		}
	}
	t.next = t.base + 1
	t.maxSeen = t.base
	held := t.held
	t.held = nil
	for _, s := range held {
		t.receive(s)
	}
}

// since is what a resubscribe asks for: everything after the contiguous
// prefix. It also arms the replay window for seqs already held in ahead.
func (t *seqTracker) since() int64 {
	t.replayTo = t.maxSeen
	t.replay = make(map[int64]struct{}, len(t.ahead))
	for s := range t.ahead {
		t.replay[s] = struct{}{}
	}
	return t.next - 1
}

// receive accounts one arrival of seq s on the stream.
func (t *seqTracker) receive(s int64) arrival {
	if !t.started {
		t.held = append(t.held, s)
		return arrHeld
	}
	if _, ok := t.replay[s]; ok {
		delete(t.replay, s) // once: a second copy is a duplicate
		return arrRepeat
	}
	if s < t.next {
		t.duplicated++
		return arrDup
	}
	if _, ok := t.ahead[s]; ok {
		t.duplicated++
		return arrDup
	}
	res := arrNew
	switch {
	case s < t.maxSeen && s <= t.replayTo:
		// The hole is being filled by the replay we asked for.
		t.recovered++
	case s < t.maxSeen:
		t.reordered++
	case s > t.next && s > t.maxSeen+1:
		t.gaps++
		res = arrNewGap
	}
	t.accept(s)
	return res
}

// fill accounts a seq fetched out of band (REST after=); it returns false when
// the seq was already there.
func (t *seqTracker) fill(s int64) bool {
	if !t.started || s < t.next {
		return false
	}
	if _, ok := t.ahead[s]; ok {
		return false
	}
	t.recovered++
	t.accept(s)
	return true
}

func (t *seqTracker) accept(s int64) {
	t.delivered++
	if s > t.maxSeen {
		t.maxSeen = s
	}
	if s != t.next {
		if t.ahead == nil {
			t.ahead = make(map[int64]struct{})
		}
		t.ahead[s] = struct{}{}
		return
	}
	t.next++
	for {
		if _, ok := t.ahead[t.next]; !ok {
			break
		}
		delete(t.ahead, t.next)
		t.next++
	}
}

// hasHole reports whether a seq below maxSeen is still missing.
func (t *seqTracker) hasHole() bool { return t.started && t.next <= t.maxSeen }

// complete reports whether everything up to final has arrived.
func (t *seqTracker) complete(final int64) bool { return t.started && t.next > final }

// expected is how many deliveries this member is owed up to final.
func (t *seqTracker) expected(final int64) int64 {
	if !t.started || final <= t.base {
		return 0
	}
	return final - t.base
}

// deliveredUpTo counts the distinct seqs received in (base, final].
func (t *seqTracker) deliveredUpTo(final int64) int64 {
	if !t.started || final <= t.base {
		return 0
	}
	n := min(t.next-1, final) - t.base
	for s := range t.ahead {
		if s <= final {
			n++
		}
	}
	return n
}

// lost counts the seqs in (base, final] that never arrived.
func (t *seqTracker) lost(final int64) int64 {
	if !t.started {
		return 0
	}
	missing := int64(0)
	if final >= t.next {
		missing = final - t.next + 1
		for s := range t.ahead {
			if s <= final {
				missing--
			}
		}
	}
	return missing
}
