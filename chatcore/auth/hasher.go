package auth

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
)

// ErrBusy means every password hashing slot is taken and the queue is
// full: the caller should answer 503 with Retry-After, not wait.
var ErrBusy = errors.New("auth: too many password hashes in progress")

// Hasher bounds password hashing: each argon2id call holds MemoryKiB of
// memory for tens of milliseconds, so unbounded concurrent logins (one per
// address, under every rate limit) would take the node out of memory. At
// most Concurrency hashes run at once, at most Queue more wait for a slot,
// and anything past that is refused with ErrBusy.
//
// After a burst the memory goes back to the OS (see release).
type Hasher struct {
	params  PasswordParams
	sem     *semaphore.Weighted
	queue   int64
	waiting atomic.Int64
	running atomic.Int64 // slots held
	since   atomic.Int64 // hashes since memory was last returned to the OS
	pending atomic.Bool  // a return is scheduled
}

// A burst of at least freeBurst hashes followed by freeQuiet without one
// returns the heap's free memory to the OS (debug.FreeOSMemory). Each hash
// allocates MemoryKiB (19 MiB by default) and the heap grows to hold a few
// of them; on its own the runtime gives that back late or never: 1,000
// sign-ups took a gateway from ~60 to ~120 MiB RSS and left it 15 MiB
// above where it started a minute later; with this, 9 MiB within 5 s
// (BENCHMARKS.md, "RSS after sign-ups"). Once per burst, a full GC costs
// little beside the hashes.
var (
	freeBurst int64 = 8
	freeQuiet       = time.Second
	freeOS          = debug.FreeOSMemory
)

// NewHasher returns a hasher with the given costs. concurrency <= 0 is
// half of GOMAXPROCS, at least one, so the other half keeps the chat going:
// on 2 cores under a login flood (deploy.TestPasswordHashFlood, the flood's
// clients on the same cores) a bystander's deliveries took p50 186 ms,
// p99 316 ms with two hashes at once, p50 70 ms, p99 141 ms with one.
// queue 0 is 4 × concurrency, at least 8 (a burst of sign-ups waits, at
// ~40 ms a hash, a few hundred milliseconds instead of being refused;
// waiting costs no hashing memory) and a negative queue is none.
func NewHasher(p PasswordParams, concurrency, queue int) *Hasher {
	if p.MemoryKiB == 0 {
		p = DefaultPasswordParams
	}
	if concurrency <= 0 {
		concurrency = max(1, runtime.GOMAXPROCS(0)/2)
	}
	switch {
	case queue == 0:
		queue = max(8, 4*concurrency)
	case queue < 0:
		queue = 0
	}
	return &Hasher{params: p, sem: semaphore.NewWeighted(int64(concurrency)), queue: int64(queue)}
}

// Params are the costs new hashes get.
func (h *Hasher) Params() PasswordParams { return h.params }

// Acquire takes a hashing slot, waiting in the queue if there is room;
// release it when the hash is done. A login takes it before looking the
// account up, so a refused flood costs no database query.
func (h *Hasher) Acquire(ctx context.Context) (release func(), err error) {
	if err := h.acquire(ctx); err != nil {
		return nil, err
	}
	return h.release, nil
}

// release gives a slot back and, at the end of a burst, schedules the
// return of memory to the OS.
func (h *Hasher) release() {
	h.running.Add(-1)
	h.sem.Release(1)
	if h.since.Add(1) < freeBurst || !h.idle() || !h.pending.CompareAndSwap(false, true) {
		return
	}
	time.AfterFunc(freeQuiet, func() {
		defer h.pending.Store(false)
		// Still quiet: nothing hashing or waiting since the burst ended;
		// else the next release schedules it again.
		if h.idle() {
			h.since.Store(0)
			freeOS()
		}
	})
}

func (h *Hasher) idle() bool { return h.running.Load() == 0 && h.waiting.Load() == 0 }

func (h *Hasher) acquire(ctx context.Context) error {
	if h.sem.TryAcquire(1) {
		h.running.Add(1)
		return nil
	}
	if h.waiting.Add(1) > h.queue {
		h.waiting.Add(-1)
		return ErrBusy
	}
	defer h.waiting.Add(-1)
	if err := h.sem.Acquire(ctx, 1); err != nil {
		return fmt.Errorf("auth: waiting for a hashing slot: %w", err)
	}
	h.running.Add(1)
	return nil
}

// Hash is HashPassword under the bound.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	return HashPassword(password, h.params)
}
