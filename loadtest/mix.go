package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Issue 15: an edit, delete or reaction must reach the room's subscribers
// like a message. -mix draws each scheduled operation by weight; the
// default is sends only, so a run without -mix is what it always was.

// opKind is what one scheduled operation does.
type opKind int

const (
	opSend opKind = iota
	opReact
	opEdit
	opDelete
	numOps
)

// opNames are the -mix keys, in opKind order.
var opNames = [numOps]string{"send", "react", "edit", "delete"}

// Mix is the share of each operation, as given (weights need not add up
// to 100). It travels to -procs children inside the plan's Config.
type Mix struct {
	Send   float64 `json:"send"`
	React  float64 `json:"react"`
	Edit   float64 `json:"edit"`
	Delete float64 `json:"delete"`
}

func (m Mix) weights() [numOps]float64 {
	return [numOps]float64{m.Send, m.React, m.Edit, m.Delete}
}

// events reports whether the mix holds anything besides sends (a zero Mix,
// from a plan written before -mix, is sends only).
func (m Mix) events() bool { return m.React > 0 || m.Edit > 0 || m.Delete > 0 }

// String writes the mix as -mix takes it.
func (m Mix) String() string {
	var parts []string
	for k, w := range m.weights() {
		if w > 0 {
			parts = append(parts, opNames[k]+"="+strconv.FormatFloat(w, 'g', -1, 64))
		}
	}
	return strings.Join(parts, ",")
}

// parseMix reads "send=80,react=10,edit=5,delete=5". Missing keys weigh 0;
// "" is sends only.
func parseMix(s string) (Mix, error) {
	if strings.TrimSpace(s) == "" {
		return Mix{Send: 1}, nil
	}
	var w [numOps]float64
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		key, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return Mix{}, fmt.Errorf("%q: want kind=weight", part)
		}
		k := -1
		for i, n := range opNames {
			if n == key {
				k = i
			}
		}
		if k < 0 {
			return Mix{}, fmt.Errorf("unknown kind %q (send, react, edit, delete)", key)
		}
		if seen[key] {
			return Mix{}, fmt.Errorf("%s given twice", key)
		}
		seen[key] = true
		f, err := strconv.ParseFloat(val, 64)
		if err != nil || f < 0 || f > 1e6 || f != f {
			return Mix{}, fmt.Errorf("%s=%q: want a number from 0 to 1000000", key, val)
		}
		w[k] = f
	}
	m := Mix{Send: w[opSend], React: w[opReact], Edit: w[opEdit], Delete: w[opDelete]}
	if m.Send+m.React+m.Edit+m.Delete == 0 {
		return Mix{}, fmt.Errorf("every weight is 0")
	}
	if m.Send == 0 {
		// Edits, deletes and reactions need messages to act on.
		return Mix{}, fmt.Errorf("send must weigh more than 0: the other operations act on sent messages")
	}
	return m, nil
}

// draw maps u, uniform in [0, 1), to an operation by weight.
func (m Mix) draw(u float64) opKind {
	w := m.weights()
	total := 0.0
	for _, x := range w {
		total += x
	}
	if total == 0 {
		return opSend
	}
	x := u * total
	for k, wk := range w {
		if x < wk {
			return opKind(k)
		}
		x -= wk
	}
	for k := numOps - 1; k >= 0; k-- { // rounding at u → 1
		if w[k] > 0 {
			return k
		}
	}
	return opSend
}

// Delivered stream entries, by the latency they are reported under.
type entryKind int

const (
	kindMessage entryKind = iota
	kindEdit
	kindDelete
	kindReact // a reaction added or removed
	numKinds
)

var kindNames = [numKinds]string{"message", "edit", "delete", "react"}

// entryKindOf maps an event type of the stream to its kind; ok is false for
// events that are not stream entries.
func entryKindOf(typ string) (entryKind, bool) {
	switch typ {
	case "message", "":
		return kindMessage, true
	case "edit":
		return kindEdit, true
	case "delete":
		return kindDelete, true
	case "reaction":
		return kindReact, true
	}
	return 0, false
}

// With a mix, an operation's cid carries its intended send time after
// cidTimeMark (base 36 ns), since a delete or a reaction has no body to
// carry it: any member, in any -procs process, reads it off the delivered
// entry (stream, replay or REST page alike).
const cidTimeMark = "~t"

func eventCID(base string, intended time.Time) string {
	return base + cidTimeMark + strconv.FormatInt(intended.UnixNano(), 36)
}

// cidTime extracts the intended time eventCID put in a cid.
func cidTime(cid string) (time.Time, bool) {
	i := strings.LastIndex(cid, cidTimeMark)
	if i < 0 {
		return time.Time{}, false
	}
	ns, err := strconv.ParseInt(cid[i+len(cidTimeMark):], 36, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, ns), true
}

// entryTime is the intended send time of a delivered entry. With a mix,
// every operation's cid carries it (a delete or a reaction has no body; a
// message replayed after an edit shows the edit's text, after a delete no
// text at all); without one, a message's body does (makeBody), as always.
func entryTime(body, cid string) (time.Time, bool) {
	if t, ok := cidTime(cid); ok {
		return t, true
	}
	return bodyTime(body)
}

// reactionEmoji are the emoji the generator reacts with: few, so a
// message stays far below max_reactions (20 distinct).
var reactionEmoji = [...]string{"👍", "🎉", "😂"}
