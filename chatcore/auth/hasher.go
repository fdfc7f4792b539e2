package auth

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"

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
type Hasher struct {
	params  PasswordParams
	sem     *semaphore.Weighted
	queue   int64
	waiting atomic.Int64
}

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
	return func() { h.sem.Release(1) }, nil
}

func (h *Hasher) acquire(ctx context.Context) error {
	if h.sem.TryAcquire(1) {
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
	return nil
}

// Hash is HashPassword under the bound.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.sem.Release(1)
	return HashPassword(password, h.params)
}
