package gateway

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/chatgate/chatgate/chatcore"
)

// Cache invalidation after a commit is a step of its own (Core.committed:
// local delivery, then this, then the bus), not a side effect of publishing:
// the publisher may drop messages under overload (other instances backfill
// them), an invalidation is never dropped.
//
// invalidator keeps the set of rooms with committed messages whose caches
// (the response cache's room:R tag, the counters entity cache the room
// list and room info take their counters from: Core.messagesPosted) are not bumped yet, and one goroutine drains
// it: each round bumps every room in the set with one call. The set holds a
// room once however many messages it got, so it is bounded by the number of
// rooms, and a burst of sends to one room while a round is running is one
// more bump. The goroutine runs only while there is work.
//
// A REST send waits for its room's bump (visible) before its 201, so a GET
// after it is fresh; a WebSocket send does not wait.
type invalidator struct {
	// bump gets the round's rooms, sorted, and for each the newest seq
	// marked.
	bump func(rooms, seqs []int64)
	// history, when set, is the extra bump of rooms that had room events
	// (their history pages and the newest page's stored part:
	// eventsCommitted), in the same round, before bump: a reader that
	// sees the seq an event advanced room:R to finds the stored parts
	// dropped already, so it never composes the event onto messages in
	// their state before it. Both precede the release of the round's
	// waiters.
	history func(rooms []int64)

	mu      sync.Mutex
	dirty   map[int64]int64 // room -> newest seq marked and not yet bumped
	events  map[int64]bool  // rooms of dirty with a room event among their marks
	waiters map[int64][]waiter
	running bool
}

type waiter struct {
	seq  int64
	done chan struct{}
}

func newInvalidator(bump func(rooms, seqs []int64)) *invalidator {
	return &invalidator{bump: bump, dirty: make(map[int64]int64), events: make(map[int64]bool), waiters: make(map[int64][]waiter)}
}

// markLocked adds the rooms of msgs to the set and starts the drain.
func (v *invalidator) markLocked(msgs []chatcore.Message) {
	for i := range msgs {
		m := &msgs[i]
		if seq, ok := v.dirty[m.Room]; !ok || m.Seq > seq {
			v.dirty[m.Room] = m.Seq
		}
		if m.Kind != chatcore.KindMessage {
			v.events[m.Room] = true
		}
	}
	if len(v.dirty) > 0 && !v.running {
		v.running = true
		go v.run()
	}
}

// visibleLocked returns a channel closed once a round has bumped room for
// a message of seq or later. The mark must come after this call.
func (v *invalidator) visibleLocked(room, seq int64) <-chan struct{} {
	w := waiter{seq: seq, done: make(chan struct{})}
	v.waiters[room] = append(v.waiters[room], w)
	return w.done
}

func (v *invalidator) run() {
	for {
		round, events := v.take()
		if round == nil {
			return
		}
		rooms := make([]int64, 0, len(round))
		for room := range round {
			rooms = append(rooms, room)
		}
		slices.Sort(rooms)
		if len(events) > 0 && v.history != nil {
			hist := make([]int64, 0, len(events))
			for room := range events {
				hist = append(hist, room)
			}
			slices.Sort(hist)
			v.history(hist)
		}
		seqs := make([]int64, len(rooms))
		for i, room := range rooms {
			seqs[i] = round[room]
		}
		v.bump(rooms, seqs)
		v.wake(round)
	}
}

// take empties the set into one round; nil when there is nothing to do.
func (v *invalidator) take() (map[int64]int64, map[int64]bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.dirty) == 0 {
		v.running = false
		return nil, nil
	}
	round, events := v.dirty, v.events
	v.dirty = make(map[int64]int64)
	if len(events) > 0 {
		v.events = make(map[int64]bool)
	}
	return round, events
}

// wake releases the waiters the round covered.
func (v *invalidator) wake(round map[int64]int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for room, seq := range round {
		ws := v.waiters[room]
		kept := ws[:0]
		for _, w := range ws {
			if w.seq <= seq {
				close(w.done)
			} else {
				kept = append(kept, w)
			}
		}
		if len(kept) == 0 {
			delete(v.waiters, room)
		} else {
			v.waiters[room] = kept
		}
	}
}

// withInvalidator runs fn under the lock of the core's invalidator.
func (c *Core) withInvalidator(fn func(*invalidator)) {
	v := c.inval
	v.mu.Lock()
	defer v.mu.Unlock()
	fn(v)
}

// idle waits until no round is running or due (Stop: before Redis closes),
// or ctx ends.
func (v *invalidator) idle(ctx context.Context) {
	for {
		v.mu.Lock()
		busy := v.running || len(v.dirty) > 0
		v.mu.Unlock()
		if !busy {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// visible is closed once room's caches are invalidated for a message of
// seq or later. Call it before the message's commit callback (from the
// batcher's done callback).
func (c *Core) visible(room, seq int64) (done <-chan struct{}) {
	c.withInvalidator(func(v *invalidator) { done = v.visibleLocked(room, seq) })
	return done
}

// bumpHistory is one round's invalidation of the history pages of rooms
// with room events.
func (c *Core) bumpHistory(rooms []int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.eventsCommitted(ctx, rooms...)
}

// bumpRooms is one round's invalidation.
func (c *Core) bumpRooms(rooms, seqs []int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.messagesPosted(ctx, rooms, seqs)
}
