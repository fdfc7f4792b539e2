// Package bus carries committed messages and ephemeral events between
// instances. On one node the memory bus hands them straight to the local hub;
// across nodes a Redis bus does, listening only to rooms with local
// subscribers.
package bus

import (
	"context"
	"time"

	"github.com/chatgate/chatgate/chatcore"
)

// Handler receives what the bus delivers, on the bus's goroutines.
type Handler interface {
	// OnMessages receives committed messages, in seq order per room within
	// one call; committed is when their transaction committed.
	OnMessages(msgs []chatcore.Message, committed time.Time)
	// OnTyping receives a typing event.
	OnTyping(room, user int64)
	// OnPresence receives a user coming online or going offline in a room.
	OnPresence(room, user int64, online bool)
}

// InboxHandler is a Handler that also receives events meant for one user
// (a mention, a change of their room list): event is the encoded event for
// every connection of user on this instance.
type InboxHandler interface {
	OnInbox(user int64, event []byte)
}

// Inbox is the bus key of a user's own notices (mentions, room list
// changes): rooms are
// positive, so a user's inbox is its negated id. An instance watches the
// inboxes of the users connected to it.
func Inbox(user int64) int64 { return -user }

// Bus carries events to the OTHER instances: the publishing instance has
// already delivered them to its own subscribers, without a network hop.
type Bus interface {
	PublishMessages(ctx context.Context, msgs []chatcore.Message, committed time.Time) error
	PublishTyping(ctx context.Context, room, user int64) error
	PublishPresence(ctx context.Context, room, user int64, online bool) error
	// PublishInbox sends an event meant for one user (a mention, a change
	// of their room list) to the instances watching the user's Inbox.
	PublishInbox(ctx context.Context, user int64, event []byte) error
	// Watch and Unwatch tell the bus which rooms this instance serves.
	Watch(room int64)
	Unwatch(room int64)
	// Start begins delivering to h.
	Start(h Handler) error
	Close() error
}

// Memory is the single-node bus: there are no other instances, so
// publishing is a no-op (local delivery has happened already).
type Memory struct{}

// NewMemory returns a memory bus.
func NewMemory() *Memory { return &Memory{} }

// PublishMessages does nothing: no other instance listens.
func (m *Memory) PublishMessages(context.Context, []chatcore.Message, time.Time) error { return nil }

// PublishTyping does nothing: no other instance listens.
func (m *Memory) PublishTyping(context.Context, int64, int64) error { return nil }

// PublishPresence does nothing: no other instance listens.
func (m *Memory) PublishPresence(context.Context, int64, int64, bool) error { return nil }

// PublishInbox does nothing: no other instance listens.
func (m *Memory) PublishInbox(context.Context, int64, []byte) error { return nil }

// Watch is a no-op: everything published is local.
func (m *Memory) Watch(int64) {}

// Unwatch is a no-op.
func (m *Memory) Unwatch(int64) {}

// Start does nothing.
func (m *Memory) Start(Handler) error { return nil }

// Close is a no-op.
func (m *Memory) Close() error { return nil }

var _ Bus = (*Memory)(nil)
