package hub

import (
	"context"
	"fmt"

	"github.com/chatgate/chatgate/chatcore/wire"
	"go.uber.org/zap"
)

// Subscribe adds sub to the room. Without since it receives messages after
// the room's current last seq; with since it first receives every message
// after since. The subscribed event is queued before any message, and
// lastSeq is returned for the caller's own use. Replaying runs in the
// background, paced by sub.WaitRoom. Subscribing again re-positions.
func (h *Hub) Subscribe(ctx context.Context, sub Subscriber, roomID int64, since *int64) (int64, error) {
	r, err := h.getRoom(ctx, roomID)
	if err != nil {
		return 0, err
	}
	s := h.shard(roomID)
	s.mu.Lock()
	if s.rooms[roomID] != r {
		// The room went idle and was dropped between init and here.
		s.mu.Unlock()
		return h.Subscribe(ctx, sub, roomID, since)
	}
	resub := false
	if old, ok := r.subs[sub]; ok {
		old.removed = true
		resub = true
	}
	joined := false
	if !resub {
		if r.users == nil {
			r.users = make(map[int64]int)
		}
		r.users[sub.UserID()]++
		joined = r.users[sub.UserID()] == 1
	}
	last := r.delivered
	from := last
	if since != nil && *since >= 0 {
		from = *since
	}
	st := &subscription{next: from + 1, replaying: from < last}
	r.subs[sub] = st
	sub.Enqueue(wire.NewFrame(0, wire.Encode(wire.SubscribedEvent{Type: wire.TypeSubscribed, Room: roomID, LastSeq: last})))
	if st.replaying {
		// Serve what the ring holds right away, under the lock, so a typical
		// reconnect costs no store read at all.
		if frames := r.recentFrom(st.next); frames != nil && sub.Fits(len(frames), framesBytes(frames)) {
			for _, f := range frames {
				// A copy without Committed: a replay is not a live delivery
				// and must not count in the delivery latency.
				sub.Enqueue(wire.NewFrame(f.Seq, f.Data))
			}
			st.next = r.delivered + 1
			st.replaying = false
			h.obs.Replayed(len(frames), false)
		}
	}
	s.mu.Unlock()
	if st.replaying {
		h.spawn(func() { h.replay(sub, r, st) })
	}
	if joined && h.OnUserPresence != nil {
		h.OnUserPresence(roomID, sub.UserID(), true)
	}
	return last, nil
}

func framesBytes(frames []*wire.Frame) int {
	n := 0
	for _, f := range frames {
		n += len(f.Data)
	}
	return n
}

// replay brings a subscription from st.next up to the live stream.
func (h *Hub) replay(sub Subscriber, r *room, st *subscription) {
	s := h.shard(r.id)
	for {
		s.mu.Lock()
		if st.removed {
			s.mu.Unlock()
			return
		}
		target := r.delivered
		s.mu.Unlock()

		if err := h.replayRange(sub, r.id, st, target); err != nil {
			if h.ctx.Err() == nil {
				h.log.Warn("hub: replay failed", zap.Int64("room", r.id), zap.Error(err))
			}
			// The subscriber cannot be served without a gap: drop it from
			// the room so it does not receive later messages after a hole.
			// Its connection reports the error and the client resubscribes.
			h.Unsubscribe(sub, r.id)
			sub.Enqueue(wire.NewFrame(0, wire.Encode(wire.ErrorEvent{Type: wire.TypeError,
				Code: wire.CodeUnavailable, Message: "replay failed, subscribe again with since", Room: r.id})))
			return
		}

		s.mu.Lock()
		if st.removed {
			s.mu.Unlock()
			return
		}
		if st.overflow {
			st.overflow, st.buf = false, nil
			s.mu.Unlock()
			continue
		}
		i := 0
		for ; i < len(st.buf); i++ {
			f := st.buf[i]
			if f.Seq < st.next {
				continue
			}
			if f.Seq > st.next {
				break
			}
			sub.Enqueue(f)
			st.next++
		}
		st.buf = st.buf[i:]
		if st.next > r.delivered {
			st.replaying, st.buf = false, nil
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
	}
}

// replayRange sends st.next..target from the store in pages.
func (h *Hub) replayRange(sub Subscriber, roomID int64, st *subscription, target int64) error {
	for st.next <= target {
		ctx, cancel := context.WithTimeout(h.ctx, h.cfg.QueryTimeout)
		msgs, _, err := h.store.After(ctx, roomID, st.next-1, h.cfg.ReplayPage)
		cancel()
		if err != nil {
			return fmt.Errorf("hub: replay room %d after %d: %w", roomID, st.next-1, err)
		}
		if len(msgs) == 0 {
			return fmt.Errorf("hub: replay room %d: store has nothing after %d, want up to %d", roomID, st.next-1, target)
		}
		n := 0
		for i := range msgs {
			m := &msgs[i]
			if m.Seq != st.next || m.Seq > target {
				break
			}
			// Wait per message, not per page: a page of big messages can
			// exceed the whole queue.
			if err := sub.WaitRoom(h.ctx); err != nil {
				return err
			}
			if !sub.Enqueue(wire.NewFrame(m.Seq, wire.EncodeMessage(m))) {
				return fmt.Errorf("hub: replay room %d: subscriber gone", roomID)
			}
			st.next++
			n++
		}
		h.obs.Replayed(n, true)
		if n == 0 {
			return fmt.Errorf("hub: replay room %d: seq %d missing in store", roomID, st.next)
		}
	}
	return nil
}

// Unsubscribe removes sub from the room; it reports whether sub was there
// (two concurrent removals of one subscription: only one sees true).
func (h *Hub) Unsubscribe(sub Subscriber, roomID int64) bool {
	s := h.shard(roomID)
	s.mu.Lock()
	r, ok := s.rooms[roomID]
	if !ok {
		s.mu.Unlock()
		return false
	}
	left, removed := false, false
	if st, ok := r.subs[sub]; ok {
		removed = true
		st.removed = true
		delete(r.subs, sub)
		if r.users[sub.UserID()]--; r.users[sub.UserID()] <= 0 {
			delete(r.users, sub.UserID())
			left = true
		}
	}
	idle := len(r.subs) == 0 && r.delivered >= 0
	if idle {
		delete(s.rooms, roomID)
		if r.gapTimer != nil {
			r.gapTimer.Stop()
		}
	}
	s.mu.Unlock()
	if left && h.OnUserPresence != nil {
		h.OnUserPresence(roomID, sub.UserID(), false)
	}
	if idle && h.OnRoomIdle != nil {
		h.OnRoomIdle(roomID)
	}
	return removed
}

// Presence tells the room's live subscribers, except the user's own
// connections, that the user came online or went offline in it.
func (h *Hub) Presence(roomID, userID int64, online bool) {
	h.ephemeral(roomID, userID, func() any {
		return wire.PresenceEvent{Type: wire.TypePresence, Room: roomID, User: userID, Online: online}
	})
}

// ephemeral sends a best-effort event (typing, presence) to the room's live
// subscribers except the connections of the user it is about; it is
// encoded once, and only if someone is there to get it.
func (h *Hub) ephemeral(roomID, userID int64, event func() any) {
	s := h.shard(roomID)
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.rooms[roomID]
	if !ok {
		return
	}
	var f *wire.Frame
	for sub, st := range r.subs {
		if st.replaying || sub.UserID() == userID {
			continue
		}
		if f == nil {
			f = wire.NewFrame(0, wire.Encode(event()))
		}
		sub.Enqueue(f)
	}
}

// LocalUsers lists the users with a live subscription to the room on this
// instance.
func (h *Hub) LocalUsers(roomID int64) []int64 {
	s := h.shard(roomID)
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.rooms[roomID]
	if !ok {
		return nil
	}
	out := make([]int64, 0, len(r.users))
	for u := range r.users {
		out = append(out, u)
	}
	return out
}

// Subscribed reports whether sub has a subscription to the room here.
func (h *Hub) Subscribed(sub Subscriber, roomID int64) bool {
	s := h.shard(roomID)
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.rooms[roomID]
	if !ok {
		return false
	}
	_, ok = r.subs[sub]
	return ok
}

// HasUser reports whether the user has a live subscription to the room on
// this instance.
func (h *Hub) HasUser(roomID, userID int64) bool {
	s := h.shard(roomID)
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.rooms[roomID]
	return ok && r.users[userID] > 0
}

// LocalPresence calls f for every (room, user) with a live subscription
// here, for refreshing presence entries that expire.
func (h *Hub) LocalPresence(f func(room, user int64)) {
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.Lock()
		var pairs [][2]int64
		for id, r := range s.rooms {
			for u := range r.users {
				pairs = append(pairs, [2]int64{id, u})
			}
		}
		s.mu.Unlock()
		for _, p := range pairs {
			f(p[0], p[1])
		}
	}
}

// Typing sends an ephemeral frame to the room's live subscribers except the
// author's own connections.
func (h *Hub) Typing(roomID, userID int64) {
	h.ephemeral(roomID, userID, func() any {
		return wire.TypingEvent{Type: wire.TypeTyping, Room: roomID, User: userID}
	})
}

// UnsubscribeUser removes every local subscription of the user from the
// room and tells each connection with an unsubscribed event (after a leave
// or a removal: a former member must stop receiving at once). It returns how
// many subscriptions it ended.
func (h *Hub) UnsubscribeUser(roomID, userID int64) int {
	s := h.shard(roomID)
	s.mu.Lock()
	r, ok := s.rooms[roomID]
	var gone []Subscriber
	if ok {
		for sub := range r.subs {
			if sub.UserID() == userID {
				gone = append(gone, sub)
			}
		}
	}
	s.mu.Unlock()
	n := 0
	for _, sub := range gone {
		// A concurrent removal (the revoker and the leave's own call) may
		// have taken it first: one unsubscribed event per subscription.
		if h.Unsubscribe(sub, roomID) {
			sub.Enqueue(wire.NewFrame(0, wire.Encode(wire.RoomEvent{Type: wire.TypeUnsubbed, Room: roomID})))
			n++
		}
	}
	return n
}

// Recent returns the frames of room's messages from through to (both
// included) from the ring of recent frames, or nil when the room has no
// local subscribers, has not delivered to yet, or the ring no longer holds
// from.
func (h *Hub) Recent(roomID, from, to int64) []*wire.Frame {
	if from > to {
		return nil
	}
	s := h.shard(roomID)
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.rooms[roomID]
	if !ok || r.delivered < to {
		return nil
	}
	frames := r.recentFrom(from)
	if int64(len(frames)) < to-from+1 {
		return nil
	}
	return frames[:to-from+1]
}
