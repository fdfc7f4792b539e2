package gateway

import (
	"context"
	"strings"
	"sync"
	"time"
	"unicode"

	"go.uber.org/zap"

	"github.com/chatgate/chatgate/chatcore"
	"github.com/chatgate/chatgate/chatcore/bus"
	"github.com/chatgate/chatgate/chatcore/socket"
	"github.com/chatgate/chatgate/chatcore/wire"
)

// Mentions: a message's @names (mentionNames, a byte scan for '@' on the
// send path) go with it to the batcher, which resolves them to the room's
// members and records them (mentions table: the unread counts of GET
// /api/rooms) in the message's own transaction: a stored message always
// has its mentions, whatever happens to the instance after the commit.
// Then, off the flusher, each mentioned user's room list is dropped and
// they get a mention event on every connection they have, on every
// instance, subscribed to the room or not: this instance's through its
// inbox index, the others' through the bus (the user's Inbox channel,
// watched by every instance the user is connected to). The event is a
// notice: if the instance dies before sending it, the count is still
// right on the next room list (within membershipTTL, the user_rooms
// cache's bound, on instances that held the user's part).

const (
	maxMentionNames = 20   // @names looked up per message
	maxMentionQueue = 8192 // messages waiting for their notices; past it the notices are dropped (logged)
)

// mentionNames returns the distinct lowercase @names of body: an @ at the
// start or after white space, up to the next white space, without
// trailing punctuation. A name with spaces is mentioned without them
// (@annsmith for "Ann Smith").
func mentionNames(body string) []string {
	if strings.IndexByte(body, '@') < 0 {
		return nil
	}
	var out []string
	for _, w := range strings.Fields(body) {
		if len(w) < 2 || w[0] != '@' {
			continue
		}
		name := strings.ToLower(strings.TrimRightFunc(w[1:], func(r rune) bool {
			return unicode.IsPunct(r) && r != '_' && r != '-'
		}))
		if name == "" || len(name) > 256 || containsStr(out, name) {
			continue
		}
		if out = append(out, name); len(out) == maxMentionNames {
			break
		}
	}
	return out
}

func containsStr(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// mentioner sends the notices of committed messages' mentions, on a
// goroutine that runs only while there is work.
type mentioner struct {
	c       *Core
	mu      sync.Mutex
	queue   []chatcore.Message
	running bool
}

// add queues the committed messages that mention someone. Cheap: it runs
// on the flusher.
func (m *mentioner) add(msgs []chatcore.Message) {
	for i := range msgs {
		msg := &msgs[i]
		if len(msg.Mentioned) == 0 {
			continue
		}
		m.mu.Lock()
		if len(m.queue) >= maxMentionQueue {
			m.mu.Unlock()
			m.c.log.Warn("gateway: mention queue full; notices of a message's mentions dropped (the mentions are stored)",
				zap.Int64("room", msg.Room), zap.Int64("seq", msg.Seq))
			continue
		}
		m.queue = append(m.queue, *msg)
		if !m.running {
			m.running = true
			go m.run()
		}
		m.mu.Unlock()
	}
}

func (m *mentioner) run() {
	for {
		m.mu.Lock()
		batch := m.queue
		m.queue = nil
		if len(batch) == 0 {
			m.running = false
			m.mu.Unlock()
			return
		}
		m.mu.Unlock()
		for i := range batch {
			m.notify(&batch[i])
		}
	}
}

// notify tells the users msg mentions: their room lists' counts are
// dropped, then the mention event goes to their connections.
func (m *mentioner) notify(msg *chatcore.Message) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ev := wire.Encode(wire.MentionEvent{Type: wire.TypeMention, Room: msg.Room, Seq: msg.Seq, User: msg.User,
		Body: msg.Body, TS: msg.TS.UTC().Format(wire.TSLayout)})
	k := m.c.caches()
	for _, u := range msg.Mentioned {
		// The room list's unread mention counts come from user_rooms.
		k.logErr("user_rooms", k.userRooms.Invalidate(ctx, idKey(u)))
		m.c.sendToUser(ctx, u, ev)
	}
}

// inbox indexes this instance's connections by user, for events meant for
// a user rather than a room.
type inbox struct {
	mu sync.Mutex
	// conns maps each connection to the session generation of the token
	// it was opened with (sessions.go ends those below the user's).
	conns map[int64]map[*socket.Conn]int64
}

// inboxAdd registers conn, opened with a token of session generation gen,
// as one of user's; the returned func removes it. The user's first
// connection here watches their Inbox on the bus, the last unwatches it.
func (c *Core) inboxAdd(user, gen int64, conn *socket.Conn) func() {
	b := &c.inbox
	b.mu.Lock()
	if b.conns == nil {
		b.conns = make(map[int64]map[*socket.Conn]int64)
	}
	set := b.conns[user]
	if set == nil {
		set = make(map[*socket.Conn]int64)
		b.conns[user] = set
		c.Bus.Watch(bus.Inbox(user))
	}
	set[conn] = gen
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		delete(set, conn)
		if len(set) == 0 && b.conns[user] != nil && len(b.conns[user]) == 0 {
			delete(b.conns, user)
			c.Bus.Unwatch(bus.Inbox(user))
		}
	}
}

// sendToUser sends an encoded event meant for user (a mention, a rooms
// event) to every connection of theirs: this instance's at once, the
// others' through the user's inbox on the bus. A failed publication is
// logged; the event is a notice, the state it announces is in Postgres.
func (c *Core) sendToUser(ctx context.Context, user int64, ev []byte) {
	c.deliverToUser(user, ev)
	if err := c.Bus.PublishInbox(ctx, user, ev); err != nil {
		c.log.Debug("gateway: publish to a user's inbox", zap.Int64("user", user), zap.Error(err))
	}
}

// deliverToUser queues the encoded event to every connection of user on
// this instance.
func (c *Core) deliverToUser(user int64, ev []byte) {
	c.inbox.mu.Lock()
	conns := make([]*socket.Conn, 0, len(c.inbox.conns[user]))
	for conn := range c.inbox.conns[user] {
		conns = append(conns, conn)
	}
	c.inbox.mu.Unlock()
	if len(conns) == 0 {
		return
	}
	f := wire.NewFrame(0, ev)
	for _, conn := range conns {
		conn.Enqueue(f)
	}
}

// OnInbox delivers an event meant for user from another instance (a
// mention, a change of their room list; bus.InboxHandler).
func (b busHandler) OnInbox(user int64, ev []byte) { b.c.deliverToUser(user, ev) }
