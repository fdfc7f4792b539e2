// Package presence tracks which users are online in which rooms: a user is
// online in a room while they have a live subscription to it on any
// instance. Like centrifuge's presence managers, one interface has a
// memory implementation (one node) and a Redis one (many); unlike them,
// a Manager is told of changes by the hub (a user's first and last local
// subscription to a room) and pushes them, never polled: presence is
// best-effort, like typing, and never stored in Postgres.
//
// Constructors build and do no I/O; Start starts what runs in the
// background (the Redis heartbeat), Stop ends it.
package presence

import (
	"context"
	"time"
)

// Manager is the presence of one instance.
type Manager interface {
	// Changed records the hub's report of a user's first (online) or last
	// (offline) local subscription to room, and tells the room's
	// subscribers when the user's presence changed.
	Changed(room, user int64, online bool)
	// Online lists the users online in room, on every instance.
	Online(ctx context.Context, room int64) ([]int64, error)
	// Start starts the background work, if any; it is idempotent.
	Start(ctx context.Context) error
	// Stop ends it and takes this instance's users out; it is idempotent.
	Stop(ctx context.Context) error
}

// Hub is what a Manager needs of this instance's fan-out (*hub.Hub).
type Hub interface {
	// Presence tells the room's local subscribers of a change.
	Presence(room, user int64, online bool)
	// LocalUsers lists the users with a local subscription to room.
	LocalUsers(room int64) []int64
	// LocalPresence calls f for every local (room, user) subscription.
	LocalPresence(f func(room, user int64))
}

// Publisher tells the other instances' subscribers of a change (bus.Bus).
type Publisher interface {
	PublishPresence(ctx context.Context, room, user int64, online bool) error
}

// Memory is the presence of a single instance: its hub knows everyone.
type Memory struct{ hub Hub }

// NewMemory returns the presence of a single instance.
func NewMemory(h Hub) *Memory { return &Memory{hub: h} }

// Changed tells the room's subscribers.
func (m *Memory) Changed(room, user int64, online bool) { m.hub.Presence(room, user, online) }

// Online lists the room's local users.
func (m *Memory) Online(_ context.Context, room int64) ([]int64, error) {
	return m.hub.LocalUsers(room), nil
}

// Start does nothing: there is nothing to run.
func (m *Memory) Start(context.Context) error { return nil }

// Stop does nothing.
func (m *Memory) Stop(context.Context) error { return nil }

// Redis presence timing.
const (
	// TTL is the expiry of an entry, the backstop when no reaper runs.
	TTL = 60 * time.Second
	// Refresh is how often an instance rewrites its entries' expiry.
	Refresh = 20 * time.Second
	// DefaultBeat and DefaultDeadAfter: an instance beats every 3 s and
	// counts as dead 10 s after its last beat (reap.go).
	DefaultBeat      = 3 * time.Second
	DefaultDeadAfter = 10 * time.Second
)

var (
	_ Manager = (*Memory)(nil)
	_ Manager = (*Redis)(nil)
)
