// Package hub is the local fan-out of one instance: it keeps, per room with
// local subscribers, the seq delivered so far, a reorder buffer, a ring of
// recent frames for cheap replays, and the subscribers themselves.
//
// Messages reach the hub from the bus in any order and possibly twice; the hub
// hands each subscriber every message exactly once and in seq order, filling
// gaps from the store. A subscriber joining with since first gets the
// messages it missed (ring, else store), then the live ones, with neither a
// gap nor a duplicate at the seam.
package hub

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/chatgate/chatgate/chatcore"
	"github.com/chatgate/chatgate/chatcore/wire"
)

// Store is what the hub reads to initialise rooms, replay and fill gaps.
type Store interface {
	LastSeq(ctx context.Context, room int64) (int64, error)
	After(ctx context.Context, room, after int64, limit int) ([]chatcore.Message, bool, error)
}

// Subscriber is one connection as the hub sees it.
type Subscriber interface {
	// Enqueue queues a frame without blocking. It returns false when the
	// subscriber is gone or its queue overflowed (it then closes itself).
	Enqueue(f *wire.Frame) bool
	// WaitRoom blocks until the subscriber's queue has room for a replay
	// page, so a long replay is paced by the socket, not by memory.
	WaitRoom(ctx context.Context) error
	// Fits reports whether frames more frames of n bytes in all can be
	// queued at once and leave room for live traffic: a backlog that does
	// not fit is replayed paced by WaitRoom instead.
	Fits(frames, n int) bool
	// UserID is the authenticated user (typing is not echoed to its author).
	UserID() int64
}

// Config tunes the hub. Zero values take the defaults.
type Config struct {
	// RecentSize is how many recent frames each active room keeps for
	// replays (default 256).
	RecentSize int
	// ReplayPage is the store page size for replays and gap fills (200).
	ReplayPage int
	// GapGrace is how long an out-of-order message waits for the missing
	// ones to arrive on the bus before the store is asked (default 25ms).
	GapGrace time.Duration
	// PendingLimit caps live frames held for a subscriber while it replays
	// (default 1024); past it the replay re-reads from the store instead.
	PendingLimit int
	// ActivateCatchUp, when set, re-reads a room from the store this long
	// after it becomes active, for buses whose subscriptions take effect
	// asynchronously (Redis). Zero: off.
	ActivateCatchUp time.Duration
	// QueryTimeout bounds each store call (default 5s).
	QueryTimeout time.Duration
	Logger       *zap.Logger
	Observer     Observer
}

// Observer receives the hub's measurements (metrics live outside chatcore).
type Observer interface {
	// Delivered reports one message fanned out to n local subscribers,
	// lag after its commit.
	Delivered(n int, lag time.Duration)
	// GapFilled reports messages fetched from the store to close a gap.
	GapFilled(n int)
	// Replayed reports messages replayed to a subscriber and where from.
	Replayed(n int, fromStore bool)
}

type nopObserver struct{}

func (nopObserver) Delivered(int, time.Duration) {}
func (nopObserver) GapFilled(int)                {}
func (nopObserver) Replayed(int, bool)           {}

const shardCount = 64

// Hub fans messages out to local subscribers. It is safe for concurrent use.
type Hub struct {
	cfg    Config
	store  Store
	log    *zap.Logger
	obs    Observer
	shards [shardCount]shard

	// OnRoomActive and OnRoomIdle tell the bus when this instance gains its
	// first or loses its last subscriber of a room, so it listens only to
	// rooms it serves. Set before use; called outside hub locks.
	OnRoomActive func(room int64)
	OnRoomIdle   func(room int64)
	// OnUserPresence is called when a user gets their first, or loses
	// their last, subscription to a room on this instance.
	OnUserPresence func(room, user int64, online bool)

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type shard struct {
	mu    sync.Mutex
	rooms map[int64]*room
}

// New returns a hub reading from store.
func New(store Store, cfg Config) *Hub {
	if cfg.RecentSize <= 0 {
		cfg.RecentSize = 256
	}
	if cfg.ReplayPage <= 0 {
		cfg.ReplayPage = 200
	}
	if cfg.GapGrace <= 0 {
		cfg.GapGrace = 25 * time.Millisecond
	}
	if cfg.PendingLimit <= 0 {
		cfg.PendingLimit = 1024
	}
	if cfg.QueryTimeout <= 0 {
		cfg.QueryTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	h := &Hub{cfg: cfg, store: store, log: cfg.Logger, obs: cfg.Observer}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	for i := range h.shards {
		h.shards[i].rooms = make(map[int64]*room)
	}
	return h
}

// Close stops replays and gap fills and waits for them.
func (h *Hub) Close() {
	h.cancel()
	h.wg.Wait()
}

func (h *Hub) shard(room int64) *shard {
	return &h.shards[uint64(room)%shardCount]
}

// Rooms returns how many rooms have local subscribers.
func (h *Hub) Rooms() int {
	n := 0
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.Lock()
		n += len(s.rooms)
		s.mu.Unlock()
	}
	return n
}

// ActiveRooms lists the rooms with local subscribers (for a bus that must
// resubscribe or backfill after a reconnect).
func (h *Hub) ActiveRooms() []int64 {
	var ids []int64
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.Lock()
		for id := range s.rooms {
			ids = append(ids, id)
		}
		s.mu.Unlock()
	}
	return ids
}

func (h *Hub) spawn(f func()) {
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		f()
	}()
}
