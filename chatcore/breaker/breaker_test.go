package breaker

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestBreaker(t *testing.T) {
	b := &Breaker{Threshold: 2, Cooldown: 50 * time.Millisecond}
	fail := errors.New("down")
	for i := range 2 {
		if !b.Allow() {
			t.Fatalf("call %d refused while closed", i)
		}
		b.Done(fail)
	}
	if !b.Open() || b.Allow() {
		t.Fatal("not open after two failures")
	}
	time.Sleep(60 * time.Millisecond)
	if !b.Allow() {
		t.Fatal("no probe after the cooldown")
	}
	if b.Allow() {
		t.Fatal("a second call during the probe")
	}
	b.Done(fail) // the probe fails: open again for a cooldown
	if b.Allow() {
		t.Fatal("allowed right after a failed probe")
	}
	time.Sleep(60 * time.Millisecond)
	if !b.Allow() {
		t.Fatal("no second probe")
	}
	b.Done(nil)
	if b.Open() || !b.Allow() || !b.Allow() {
		t.Fatal("a successful probe did not close it")
	}
}

// TestBreakerStates: the states cachemw's metric reports, each change told
// once, on the breaker's own clock.
func TestBreakerStates(t *testing.T) {
	now := time.Unix(1000, 0)
	var seen []State
	b := &Breaker{Threshold: 1, Cooldown: time.Second, Now: func() time.Time { return now },
		OnChange: func(s State) { seen = append(seen, s) }}
	fail := errors.New("down")
	want := func(s State) {
		t.Helper()
		if got := b.State(); got != s {
			t.Fatalf("state %d, want %d", got, s)
		}
	}
	want(Closed)
	b.Allow()
	b.Done(fail)
	want(Open)
	b.Done(fail) // a straggler's failure: still open, no change told
	now = now.Add(999 * time.Millisecond)
	if b.Allow() {
		t.Fatal("allowed before the cooldown on the given clock")
	}
	now = now.Add(time.Millisecond)
	if !b.Allow() {
		t.Fatal("no probe after the cooldown")
	}
	want(HalfOpen)
	b.Done(fail)
	want(Open)
	now = now.Add(time.Second)
	b.Allow()
	b.Done(nil)
	want(Closed)
	if fmt.Sprint(seen) != fmt.Sprint([]State{Open, HalfOpen, Open, HalfOpen, Closed}) {
		t.Fatalf("changes %v", seen)
	}
}
