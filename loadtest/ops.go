package main

import (
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/chatgate/chatgate/chatclient"
)

// What the generator did, by operation actually written (a drawn edit or
// delete with no message to act on became a send: a fallback).
const (
	statSend = iota
	statReact
	statUnreact
	statEdit
	statDelete
	statFallback
	statNoop // an event acked as noop: nothing changed, no entry
	numStats
)

var statNames = [numStats]string{"send", "react", "unreact", "edit", "delete", "fallback_send", "noop"}

// Targets are chosen so that every operation is a real change the server
// accepts, whatever the order the server applies a room's operations in:
//
//   - a reaction targets any acked message of the room that no one is
//     deleting; the message is then "touched" and never deleted, so a
//     reaction can never meet a deleted message (404);
//   - an edit targets one of the sender's own acked messages not deleted;
//     it is touched too;
//   - a delete targets one of the sender's own acked, untouched messages,
//     which leaves the room's reactable set at once.
//
// A user's reaction state per (message, emoji) is tracked, so a reaction
// is an unreact when the user's emoji is there; a key with an operation in
// flight is not picked again until it is acked, so the server's answer is
// never a noop (noops are counted: they would mean the tracking was wrong).

type rxKey struct {
	target int64
	emoji  string
}

type rxState struct {
	present bool // after every operation enqueued so far
	pending bool // one is in flight
}

// roomTargets is what a worker's members know of a room's messages
// (rooms are whole per worker, so this is all of them). Guarded by
// roomState.mu; a client takes its own mu first.
type roomTargets struct {
	reactable []int64       // acked messages not deleted nor being deleted
	at        map[int64]int // seq → index in reactable
	touched   map[int64]bool
}

func newRoomTargets() roomTargets {
	return roomTargets{at: map[int64]int{}, touched: map[int64]bool{}}
}

func (t *roomTargets) add(seq int64) {
	if _, ok := t.at[seq]; ok {
		return
	}
	t.at[seq] = len(t.reactable)
	t.reactable = append(t.reactable, seq)
}

func (t *roomTargets) remove(seq int64) {
	i, ok := t.at[seq]
	if !ok {
		return
	}
	last := len(t.reactable) - 1
	t.reactable[i] = t.reactable[last]
	t.at[t.reactable[i]] = i
	t.reactable = t.reactable[:last]
	delete(t.at, seq)
}

// opCID is the cid of the client's n-th operation; with a mix it carries
// the intended time (entryTime).
func (c *client) opCID(n int64, intended time.Time) string {
	base := c.w.runID + "-" + strconv.FormatInt(c.u.ID, 36) + "-" + strconv.FormatInt(n, 36)
	if c.w.cfg.Mix.events() {
		return eventCID(base, intended)
	}
	return base
}

// planOp turns a drawn operation into a sendRec; c.mu is held. It falls
// back to a send when there is nothing to act on.
func (c *client) planOp(kind opKind, rec *sendRec, rng *rand.Rand) int {
	rs := c.room
	switch kind {
	case opEdit:
		if len(c.own) == 0 {
			return statFallback
		}
		seq := c.own[rng.IntN(len(c.own))]
		rs.mu.Lock()
		rs.targets.touched[seq] = true
		rs.mu.Unlock()
		rec.op, rec.target = "edit", seq
		return statEdit
	case opDelete:
		rs.mu.Lock()
		defer rs.mu.Unlock()
		for try := 0; try < 4 && len(c.own) > 0; try++ {
			i := rng.IntN(len(c.own))
			seq := c.own[i]
			if rs.targets.touched[seq] {
				continue
			}
			c.own[i] = c.own[len(c.own)-1]
			c.own = c.own[:len(c.own)-1]
			rs.targets.remove(seq)
			rec.op, rec.target, rec.body = "delete", seq, ""
			return statDelete
		}
		return statFallback
	case opReact:
		rs.mu.Lock()
		defer rs.mu.Unlock()
		if len(rs.targets.reactable) == 0 {
			return statFallback
		}
		// A third of the time take one of the user's reactions back (a
		// random pick among a room's messages rarely meets one).
		if rng.IntN(3) == 0 {
			for k, st := range c.mine {
				if st.present && !st.pending {
					st.pending, st.present = true, false
					rec.op, rec.target, rec.emoji, rec.body = "unreact", k.target, k.emoji, ""
					return statUnreact
				}
			}
		}
		seq := rs.targets.reactable[rng.IntN(len(rs.targets.reactable))]
		e := rng.IntN(len(reactionEmoji))
		for try := 0; try < len(reactionEmoji); try++ {
			k := rxKey{seq, reactionEmoji[(e+try)%len(reactionEmoji)]}
			st := c.mine[k]
			if st == nil {
				st = &rxState{}
				c.mine[k] = st
			}
			if st.pending {
				continue
			}
			rs.targets.touched[seq] = true
			st.pending = true
			st.present = !st.present
			rec.target, rec.emoji, rec.body = seq, k.emoji, ""
			if st.present {
				rec.op = "react"
				return statReact
			}
			rec.op = "unreact"
			return statUnreact
		}
		return statFallback
	}
	return statSend
}

// frame encodes what rec asks the server to do.
func (rec *sendRec) frame(room int64) []byte {
	if rec.op == "" {
		return chatclient.SendFrame(room, rec.body, rec.cid)
	}
	return chatclient.EventFrame(rec.op, room, rec.target, rec.body, rec.emoji, rec.cid)
}

// acked updates the targets once the server answered rec; c.mu is held.
func (c *client) acked(rec *sendRec, seq int64) {
	switch rec.op {
	case "":
		c.own = append(c.own, seq)
		c.room.mu.Lock()
		c.room.targets.add(seq)
		c.room.mu.Unlock()
	case "react", "unreact":
		if st := c.mine[rxKey{rec.target, rec.emoji}]; st != nil {
			st.pending = false
		}
	}
}
