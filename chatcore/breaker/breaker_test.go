package breaker

import (
	"errors"
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
