package auth

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestHasherBound: never more than the concurrency at once, at most the
// queue waiting, everything past that refused with ErrBusy at once.
func TestHasherBound(t *testing.T) {
	cheap := PasswordParams{MemoryKiB: 8 * 1024, Time: 1, Threads: 1}
	h := NewHasher(cheap, 2, 3)
	ctx := context.Background()
	// Hold both slots, then fill the queue with waiters.
	hold := make(chan struct{})
	var held sync.WaitGroup
	for range 2 {
		rel, err := h.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held.Add(1)
		go func() { <-hold; rel(); held.Done() }()
	}
	var running, peak atomic.Int64
	var waiters sync.WaitGroup
	for range 3 {
		waiters.Add(1)
		go func() {
			defer waiters.Done()
			rel, err := h.Acquire(ctx)
			if err != nil {
				t.Errorf("a queued hash: %v", err)
				return
			}
			if n := running.Add(1); n > peak.Load() {
				peak.Store(n)
			}
			time.Sleep(10 * time.Millisecond)
			running.Add(-1)
			rel()
		}()
	}
	deadline := time.Now().Add(2 * time.Second)
	for h.waiting.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatal("waiters did not queue")
		}
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	if _, err := h.Hash(ctx, "password"); !errors.Is(err, ErrBusy) {
		t.Fatalf("a hash past the queue: %v, want ErrBusy", err)
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Fatalf("the refusal took %v: it must not wait", d)
	}
	close(hold)
	held.Wait()
	waiters.Wait()
	if peak.Load() > 2 {
		t.Fatalf("%d hashes ran at once, bound 2", peak.Load())
	}
	hash, err := h.Hash(ctx, "password")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := CheckPassword(hash, "password"); !ok {
		t.Fatal("hash does not verify")
	}
	// No queue: refused as soon as the slots are taken.
	none := NewHasher(cheap, 1, -1)
	rel, _ := none.Acquire(ctx)
	if _, err := none.Acquire(ctx); !errors.Is(err, ErrBusy) {
		t.Fatalf("no queue: %v, want ErrBusy", err)
	}
	rel()
}

// TestHasherFreesAfterBurst: a burst of hashes followed by a quiet moment
// returns memory to the OS once; fewer hashes, or hashes still coming, do
// not.
func TestHasherFreesAfterBurst(t *testing.T) {
	var freed atomic.Int64
	oldBurst, oldQuiet, oldFree := freeBurst, freeQuiet, freeOS
	freeBurst, freeQuiet, freeOS = 3, 20*time.Millisecond, func() { freed.Add(1) }
	t.Cleanup(func() { freeBurst, freeQuiet, freeOS = oldBurst, oldQuiet, oldFree })
	ctx := context.Background()
	h := NewHasher(PasswordParams{MemoryKiB: 1024, Time: 1, Threads: 1}, 1, 0)
	hash := func() {
		if _, err := h.Hash(ctx, "password"); err != nil {
			t.Fatal(err)
		}
	}
	hash()
	hash()
	time.Sleep(60 * time.Millisecond)
	if n := freed.Load(); n != 0 {
		t.Fatalf("2 hashes, under the burst: freed %d times", n)
	}
	hash() // the third: a burst
	// A login holding a slot past the quiet time defers the return.
	rel, err := h.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(60 * time.Millisecond)
	if n := freed.Load(); n != 0 {
		t.Fatalf("freed %d times while a hash was running", n)
	}
	rel()
	deadline := time.Now().Add(2 * time.Second)
	for freed.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := freed.Load(); n != 1 {
		t.Fatalf("after the burst: freed %d times, want 1", n)
	}
	hash() // one more: not a burst again
	time.Sleep(60 * time.Millisecond)
	if n := freed.Load(); n != 1 {
		t.Fatalf("one hash after the return: freed %d times, want still 1", n)
	}
}
