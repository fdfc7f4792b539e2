package hub

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/chatgate/chatgate/chatcore"
	"github.com/chatgate/chatgate/chatcore/socket"
	"github.com/chatgate/chatgate/chatcore/wire"
)

// room is the hub's state for one room with local subscribers. All fields
// are guarded by the shard's mutex.
type room struct {
	id int64
	// ready is closed once delivered holds the store's last seq.
	ready   chan struct{}
	initErr error
	// delivered is the highest seq handed to subscribers; every seq up to
	// it has been delivered, in order.
	delivered int64
	// pending holds messages that arrived ahead of a gap.
	pending    map[int64]*pendingMsg
	gapTimer   *time.Timer
	gapFilling bool
	subs       map[Subscriber]*subscription
	// users counts local subscriptions per user, for presence.
	users map[int64]int
	// recent is a ring of the last delivered frames, oldest first from
	// recentHead; recent[i].Seq are contiguous.
	recent     []*wire.Frame
	recentHead int
}

type pendingMsg struct {
	frame     *wire.Frame
	committed time.Time
}

// subscription is one subscriber's position in a room.
type subscription struct {
	// next is the seq this subscriber gets next.
	next int64
	// replaying subscribers receive live frames into buf; the replay loop
	// drains buf once it has caught up.
	replaying bool
	buf       []*wire.Frame
	overflow  bool
	removed   bool
}

// getRoom returns the room's state, creating and initialising it from the
// store on first use. It waits for a concurrent initialisation.
func (h *Hub) getRoom(ctx context.Context, id int64) (*room, error) {
	s := h.shard(id)
	for {
		s.mu.Lock()
		r, ok := s.rooms[id]
		if !ok {
			r = &room{id: id, ready: make(chan struct{}), delivered: -1,
				pending: make(map[int64]*pendingMsg), subs: make(map[Subscriber]*subscription)}
			s.rooms[id] = r
			s.mu.Unlock()
			// Listen on the bus before reading the last seq, so nothing
			// published after the read can be missed.
			if h.OnRoomActive != nil {
				h.OnRoomActive(id)
			}
			h.initRoom(r)
			if r.initErr != nil {
				if h.OnRoomIdle != nil {
					h.OnRoomIdle(id)
				}
				return nil, r.initErr
			}
			if d := h.cfg.ActivateCatchUp; d > 0 {
				// A bus subscription takes effect asynchronously; one
				// look at the store a moment later closes that window.
				h.spawn(func() {
					select {
					case <-time.After(d):
						h.catchUp(r)
					case <-h.ctx.Done():
					}
				})
			}
			return r, nil
		}
		s.mu.Unlock()
		select {
		case <-r.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if r.initErr == nil {
			return r, nil
		}
		// The initialiser failed and removed the room; try again ourselves.
	}
}

func (h *Hub) initRoom(r *room) {
	ctx, cancel := context.WithTimeout(h.ctx, h.cfg.QueryTimeout)
	last, err := h.store.LastSeq(ctx, r.id)
	cancel()
	s := h.shard(r.id)
	s.mu.Lock()
	defer s.mu.Unlock()
	defer close(r.ready)
	if err != nil {
		r.initErr = fmt.Errorf("hub: room %d last seq: %w", r.id, err)
		delete(s.rooms, r.id)
		return
	}
	r.delivered = last
	// Messages that arrived while we asked the store: drop what the store
	// already counted, deliver or buffer the rest.
	h.drainPending(r)
}

// Deliver hands a committed message to the room's subscribers. It may be
// called from any goroutine, in any order, more than once per message.
func (h *Hub) Deliver(m *chatcore.Message, committed time.Time) {
	h.DeliverDeferred(m, committed, nil)
}

// DeliverDeferred is Deliver for a caller that writes the sockets itself:
// subscribers that can (socket.Conn) queue the frame into d without
// starting a writer goroutine, and the caller calls d.Flush once it is
// done with the hub, outside its locks (socket/inline.go says why). A nil
// d is Deliver.
func (h *Hub) DeliverDeferred(m *chatcore.Message, committed time.Time, d *socket.Deferred) {
	s := h.shard(m.Room)
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.rooms[m.Room]
	if !ok {
		return // nobody here listens to this room
	}
	if r.delivered >= 0 && m.Seq <= r.delivered {
		return // duplicate
	}
	if _, dup := r.pending[m.Seq]; dup {
		return
	}
	f := wire.NewFrame(m.Seq, wire.EncodeMessage(m))
	f.Committed = committed
	r.pending[m.Seq] = &pendingMsg{frame: f, committed: committed}
	if r.delivered >= 0 {
		h.drainPendingTo(r, d)
	}
}

// drainPending delivers the contiguous run after delivered and arms the gap
// timer when messages wait behind a hole. Caller holds the shard lock and
// r.delivered is known.
func (h *Hub) drainPending(r *room) { h.drainPendingTo(r, nil) }

// drainPendingTo is drainPending with the subscribers' writes deferred to d
// (nil: none).
func (h *Hub) drainPendingTo(r *room, d *socket.Deferred) {
	for seq, p := range r.pending {
		if seq <= r.delivered {
			delete(r.pending, seq)
			_ = p
		}
	}
	for {
		p, ok := r.pending[r.delivered+1]
		if !ok {
			break
		}
		delete(r.pending, r.delivered+1)
		h.fanOut(r, p, d)
	}
	if len(r.pending) > 0 && r.gapTimer == nil && !r.gapFilling {
		r.gapTimer = time.AfterFunc(h.cfg.GapGrace, func() { h.catchUp(r) })
	}
}

// deferredSubscriber is a Subscriber whose writes can wait for the caller's
// socket.Deferred (socket.Conn is one).
type deferredSubscriber interface {
	EnqueueDeferred(f *wire.Frame, d *socket.Deferred) bool
}

func (h *Hub) fanOut(r *room, p *pendingMsg, d *socket.Deferred) {
	f := p.frame
	r.delivered = f.Seq
	h.remember(r, f)
	n := 0
	for sub, st := range r.subs {
		switch {
		case st.replaying:
			if st.overflow {
				continue
			}
			if len(st.buf) >= h.cfg.PendingLimit {
				st.overflow, st.buf = true, nil
				continue
			}
			st.buf = append(st.buf, f)
		case f.Seq == st.next:
			st.next++
			var queued bool
			if ds, ok := sub.(deferredSubscriber); ok && d != nil {
				queued = ds.EnqueueDeferred(f, d)
			} else {
				queued = sub.Enqueue(f)
			}
			if queued {
				n++
			}
		}
	}
	var lag time.Duration
	if !p.committed.IsZero() {
		lag = time.Since(p.committed)
	}
	h.obs.Delivered(n, lag)
}

func (h *Hub) remember(r *room, f *wire.Frame) {
	if len(r.recent) < h.cfg.RecentSize {
		r.recent = append(r.recent, f)
		return
	}
	r.recent[r.recentHead] = f
	r.recentHead = (r.recentHead + 1) % len(r.recent)
}

// recentFrom returns the ring's frames with seq >= from, or nil when the
// ring does not reach back that far. Caller holds the shard lock.
func (r *room) recentFrom(from int64) []*wire.Frame {
	n := len(r.recent)
	if n == 0 {
		return nil
	}
	oldest := r.recent[r.recentHead%n].Seq
	if from < oldest || from > r.delivered {
		return nil
	}
	out := make([]*wire.Frame, 0, r.delivered-from+1)
	for i := 0; i < n; i++ {
		f := r.recent[(r.recentHead+i)%n]
		if f.Seq >= from {
			out = append(out, f)
		}
	}
	return out
}

// Resync backfills the rooms from the store: the bus may have dropped
// messages for them (a Redis disconnect), and with no later message no gap
// would ever show. Rooms without local subscribers are skipped.
func (h *Hub) Resync(rooms []int64) {
	for _, id := range rooms {
		s := h.shard(id)
		s.mu.Lock()
		r, ok := s.rooms[id]
		s.mu.Unlock()
		if ok {
			h.spawn(func() { h.catchUp(r) })
		}
	}
}

// catchUp delivers whatever the store has after the room's delivered seq,
// page by page, retrying while the store is unreachable: the store is the
// record, so a gap is always closed, never skipped. It serves both a gap
// behind out-of-order messages (after GapGrace) and a resync.
func (h *Hub) catchUp(r *room) {
	select {
	case <-r.ready:
	case <-h.ctx.Done():
		return
	}
	s := h.shard(r.id)
	backoff := 50 * time.Millisecond
	for {
		s.mu.Lock()
		r.gapTimer = nil
		if s.rooms[r.id] != r {
			s.mu.Unlock()
			return
		}
		r.gapFilling = true
		from := r.delivered
		s.mu.Unlock()

		ctx, cancel := context.WithTimeout(h.ctx, h.cfg.QueryTimeout)
		msgs, more, err := h.store.After(ctx, r.id, from, h.cfg.ReplayPage)
		cancel()
		s.mu.Lock()
		r.gapFilling = false
		s.mu.Unlock()
		if err != nil {
			if h.ctx.Err() != nil {
				return
			}
			h.log.Warn("hub: catch-up failed, retrying", zap.Int64("room", r.id), zap.Error(err))
			select {
			case <-time.After(backoff):
			case <-h.ctx.Done():
				return
			}
			backoff = min(backoff*2, 2*time.Second)
			continue
		}
		s.mu.Lock()
		filled := 0
		for i := range msgs {
			m := &msgs[i]
			if _, ok := r.pending[m.Seq]; m.Seq > r.delivered && !ok {
				r.pending[m.Seq] = &pendingMsg{frame: wire.NewFrame(m.Seq, wire.EncodeMessage(m))}
				filled++
			}
		}
		h.drainPending(r)
		s.mu.Unlock()
		h.obs.GapFilled(filled)
		if !more {
			return
		}
	}
}
