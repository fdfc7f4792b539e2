package main

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestParseMix(t *testing.T) {
	m, err := parseMix("send=80,react=10,edit=5,delete=5")
	if err != nil || m != (Mix{Send: 80, React: 10, Edit: 5, Delete: 5}) || !m.events() {
		t.Fatalf("%+v %v", m, err)
	}
	if m.String() != "send=80,react=10,edit=5,delete=5" {
		t.Fatal(m.String())
	}
	if m, err := parseMix(""); err != nil || m != (Mix{Send: 1}) || m.events() {
		t.Fatalf("default %+v %v", m, err)
	}
	if m, err := parseMix(" send=1 , edit=0.5"); err != nil || m != (Mix{Send: 1, Edit: 0.5}) {
		t.Fatalf("%+v %v", m, err)
	}
	for in, want := range map[string]string{
		"send":                "want kind=weight",
		"send=80,like=3":      "unknown kind",
		"send=1,send=2":       "given twice",
		"send=-1":             "from 0",
		"send=x":              "from 0",
		"send=NaN":            "from 0",
		"send=0,edit=0":       "every weight is 0",
		"react=10,edit=5":     "send must weigh",
		"send=80,,delete=5":   "want kind=weight",
		"send=80,delete=1e99": "from 0",
	} {
		if _, err := parseMix(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
	// A zero Mix (a plan from before -mix) is sends only.
	if (Mix{}).events() || (Mix{}).draw(0.7) != opSend {
		t.Fatal("zero mix")
	}
}

// TestParseFlagsMix: -mix reaches the Config; socketio refuses events.
func TestParseFlagsMix(t *testing.T) {
	c, _, err := parseFlags([]string{"-mix", "send=80,react=10,edit=5,delete=5"})
	if err != nil || c.Mix != (Mix{Send: 80, React: 10, Edit: 5, Delete: 5}) {
		t.Fatalf("%+v %v", c, err)
	}
	if c, _, err := parseFlags(nil); err != nil || c.Mix.events() {
		t.Fatalf("default mix %+v %v", c.Mix, err)
	}
	if _, _, err := parseFlags([]string{"-mix", "edit=5"}); err == nil || !strings.Contains(err.Error(), "-mix") {
		t.Fatalf("bad mix: %v", err)
	}
	if _, _, err := parseFlags([]string{"-protocol", "socketio", "-leak-check", "off", "-mix", "send=9,react=1"}); err == nil || !strings.Contains(err.Error(), "socketio") {
		t.Fatalf("socketio with events: %v", err)
	}
}

// TestMixDraw: the boundaries fall where the weights put them, and many
// draws come out in proportion.
func TestMixDraw(t *testing.T) {
	m := Mix{Send: 80, React: 10, Edit: 5, Delete: 5}
	for u, want := range map[float64]opKind{0: opSend, 0.7999: opSend, 0.8: opReact, 0.8999: opReact, 0.9: opEdit, 0.95: opDelete, math.Nextafter(1, 0): opDelete} {
		if got := m.draw(u); got != want {
			t.Errorf("draw(%v) = %v, want %v", u, got, want)
		}
	}
	if (Mix{Send: 1, Delete: 0}).draw(math.Nextafter(1, 0)) != opSend {
		t.Error("a zero weight was drawn")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var n [numOps]int
	const total = 100_000
	for i := 0; i < total; i++ {
		n[m.draw(rng.Float64())]++
	}
	for k, w := range m.weights() {
		share := float64(n[k]) / total * 100
		if math.Abs(share-w) > 0.5 {
			t.Errorf("%s drawn %.2f%%, want %.0f%%", opNames[k], share, w)
		}
	}
}

func TestCIDTime(t *testing.T) {
	at := time.Unix(1_800_000_000, 123456789)
	cid := eventCID("run0-2s-1z", at)
	if got, ok := cidTime(cid); !ok || !got.Equal(at) {
		t.Fatalf("%s → %v %v", cid, got, ok)
	}
	if _, ok := cidTime("run0-2s-1z"); ok {
		t.Fatal("time from a cid without one")
	}
	body := makeBody(at.Add(-time.Second), 1, 1, 100)
	// The cid wins (a replayed message may show an edit's text) ...
	if got, ok := entryTime(body, cid); !ok || !got.Equal(at) {
		t.Fatal(got, ok)
	}
	// ... and without a mix the body still tells.
	if got, ok := entryTime(body, "run0-2s-1z"); !ok || !got.Equal(at.Add(-time.Second)) {
		t.Fatal(got, ok)
	}
	if _, ok := entryTime("", "run0-2s-1z"); ok {
		t.Fatal("time from a tombstone")
	}
	for typ, want := range map[string]entryKind{"message": kindMessage, "": kindMessage, "edit": kindEdit, "delete": kindDelete, "reaction": kindReact} {
		if k, ok := entryKindOf(typ); !ok || k != want {
			t.Errorf("%q: %v %v", typ, k, ok)
		}
	}
	if _, ok := entryKindOf("typing"); ok {
		t.Error("typing is no stream entry")
	}
}

// TestPlanOp: the targets rules of ops.go. Edits and deletes act on the
// client's own acked messages, a reaction on any of the room's; a
// reacted or edited message is never deleted; a deleted one is never
// reacted to; a reaction toggles; nothing to act on falls back to a send.
func TestPlanOp(t *testing.T) {
	w := &worker{cfg: &Config{URLs: []string{"http://x"}, Mix: Mix{Send: 1, React: 1, Edit: 1, Delete: 1}}, runID: "r0"}
	rs := &roomState{id: 7, targets: newRoomTargets()}
	a := newClient(w, PlanUser{SeedUser: SeedUser{ID: 1}}, rs, 0)
	b := newClient(w, PlanUser{SeedUser: SeedUser{ID: 2}}, rs, 1)
	rng := rand.New(rand.NewPCG(3, 4))
	plan := func(c *client, k opKind) (*sendRec, int) {
		c.mu.Lock()
		defer c.mu.Unlock()
		rec := &sendRec{cid: c.opCID(1, time.Now()), body: "b"}
		return rec, c.planOp(k, rec, rng)
	}
	for _, k := range []opKind{opEdit, opDelete, opReact} {
		if rec, st := plan(a, k); st != statFallback || rec.op != "" {
			t.Fatalf("%s with nothing acked: %d %+v", opNames[k], st, rec)
		}
	}
	if rec, _ := plan(a, opSend); !strings.Contains(rec.cid, cidTimeMark) || !strings.Contains(string(rec.frame(7)), `"type":"send"`) {
		t.Fatalf("send %+v %s", rec, rec.frame(7))
	}
	ack := func(c *client, rec *sendRec, seq int64) {
		c.mu.Lock()
		c.acked(rec, seq)
		c.mu.Unlock()
	}
	ack(a, &sendRec{}, 1) // a's messages 1 and 2
	ack(a, &sendRec{}, 2)
	if _, st := plan(b, opEdit); st != statFallback {
		t.Fatal("b edited a's message")
	}
	// b reacts to 1 or 2, then a deletes: never the reacted one.
	rx, st := plan(b, opReact)
	if st != statReact || rx.op != "react" || (rx.target != 1 && rx.target != 2) {
		t.Fatalf("react %d %+v", st, rx)
	}
	if f := string(rx.frame(7)); !strings.Contains(f, `"type":"react"`) || !strings.Contains(f, `"emoji"`) {
		t.Fatal(f)
	}
	del, st := plan(a, opDelete)
	if st != statDelete || del.target == rx.target || del.target == 0 {
		t.Fatalf("delete %d %+v (reacted %d)", st, del, rx.target)
	}
	if _, st := plan(a, opDelete); st != statFallback {
		t.Fatal("deleted the reacted message, or one twice")
	}
	// The deleted message is no target any more: reactions land on the
	// other one, and the same key toggles only once acked.
	for i := 0; i < len(reactionEmoji)-1; i++ {
		r, st := plan(b, opReact)
		if st != statReact || r.target != rx.target || r.emoji == rx.emoji {
			t.Fatalf("react %d: %d %+v", i, st, r)
		}
	}
	if _, st := plan(b, opReact); st != statFallback {
		t.Fatal("picked a key with a reaction in flight")
	}
	ack(b, rx, 10)
	if r, st := plan(b, opReact); st != statUnreact || r.op != "unreact" || r.emoji != rx.emoji {
		t.Fatalf("toggle: %d %+v", st, r)
	}
	if e, st := plan(a, opEdit); st != statEdit || e.target != rx.target || !strings.Contains(string(e.frame(7)), `"type":"edit"`) {
		t.Fatalf("edit %d %+v", st, e)
	}
}
