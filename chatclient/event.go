package chatclient

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Server event types.
const (
	TypeMessage      = "message"
	TypeAck          = "ack"
	TypeError        = "error"
	TypePong         = "pong"
	TypeSubscribed   = "subscribed"
	TypeUnsubscribed = "unsubscribed"
	TypeTyping       = "typing"
	TypePresence     = "presence"
	TypeEdit         = "edit"
	TypeDelete       = "delete"
	TypeReaction     = "reaction"
	TypeMention      = "mention"
	TypeRooms        = "rooms"
)

// Event is any server → client event; the fields a type does not use are
// zero. Unknown fields are ignored, so protocol additions never break a
// client.
type Event struct {
	Type string `json:"type"`
	Room int64  `json:"room"`
	// Seq: message and ack. LastSeq: subscribed (the room's newest seq when
	// the subscription started; replayed messages run up to it).
	Seq     int64 `json:"seq"`
	LastSeq int64 `json:"last_seq"`
	// Body, TS: message. CID: message, ack, and error about a send.
	Body string `json:"body"`
	CID  string `json:"cid"`
	TS   string `json:"ts"`
	// User: the sender of a message; the user of typing and presence
	// events (ID only).
	User UserRef `json:"user"`
	// Online: presence. Duplicate: an ack of a cid stored before.
	Online    bool `json:"online"`
	Duplicate bool `json:"duplicate"`
	// Code, Message: error.
	Code    string `json:"code"`
	Message string `json:"message"`
	// Files: a message's attached files (absent: none).
	Files []File `json:"files,omitempty"`
	// Room events (edit, delete, reaction) and their acks: Target is the
	// message's seq; Emoji and Op ("add", "remove") a reaction's. Noop: an
	// ack of an event that changed nothing (no seq).
	Target int64  `json:"target"`
	Emoji  string `json:"emoji"`
	Op     string `json:"op"`
	Noop   bool   `json:"noop"`
	// A message's state when it was read from the store (a replay):
	// EditedAt, Deleted, Reactions, and Rev, the seq of the last room
	// event that state shows.
	EditedAt  string    `json:"edited_at"`
	Deleted   bool      `json:"deleted"`
	Reactions Reactions `json:"reactions"`
	Rev       int64     `json:"rev"`
	// Why: rooms, the reason the user's room list changed ("dm",
	// "invited", "updated"); reload it with Rooms.
	Why string `json:"why"`

	// At is when the frame carrying the event was read (after decoding),
	// for latency measurements.
	At time.Time `json:"-"`
}

// Err returns an error event as an *Error (nil for other events).
func (e *Event) Err() error {
	if e.Type != TypeError {
		return nil
	}
	return &Error{Code: e.Code, Message: e.Message, CID: e.CID, Room: e.Room}
}

// UserRef names a user: {"id","name"} in messages, a bare id in typing and
// presence events.
type UserRef struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// UnmarshalJSON accepts both forms.
func (u *UserRef) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) == 0 || string(b) == "null":
		return nil
	case b[0] == '{':
		if fastUserRef(b, u) {
			return nil
		}
		type plain UserRef
		return json.Unmarshal(b, (*plain)(u))
	default:
		id, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil {
			return fmt.Errorf("user: %w", err)
		}
		*u = UserRef{ID: id}
		return nil
	}
}

// fastUserRef reads the server's own shape, {"id":N,"name":"..."} with no
// escapes, without a second pass of encoding/json (a message event's most
// expensive field otherwise); anything else is left to encoding/json.
func fastUserRef(b []byte, u *UserRef) bool {
	const pre, mid = `{"id":`, `,"name":"`
	if !bytes.HasPrefix(b, []byte(pre)) {
		return false
	}
	b = b[len(pre):]
	i := bytes.IndexByte(b, ',')
	if i <= 0 {
		return false
	}
	id, err := strconv.ParseInt(string(b[:i]), 10, 64)
	if err != nil || !bytes.HasPrefix(b[i:], []byte(mid)) {
		return false
	}
	b = b[i+len(mid):]
	j := bytes.IndexByte(b, '"')
	if j < 0 || string(b[j:]) != `"}` || bytes.IndexByte(b[:j], '\\') >= 0 || !utf8.Valid(b[:j]) {
		return false
	}
	for _, c := range b[:j] {
		if c < 0x20 {
			return false
		}
	}
	u.ID, u.Name = id, string(b[:j])
	return true
}

// DecodeFrame reads one text frame: one event, or a JSON array of events
// (the server batches), in order.
func DecodeFrame(data []byte) ([]Event, error) {
	data = bytes.TrimLeft(data, " \t\r\n")
	if len(data) == 0 {
		return nil, errors.New("empty frame")
	}
	if data[0] == '[' {
		var evs []Event
		if err := json.Unmarshal(data, &evs); err != nil {
			return nil, fmt.Errorf("decode event batch: %w", err)
		}
		return evs, nil
	}
	evs := make([]Event, 1)
	if err := json.Unmarshal(data, &evs[0]); err != nil {
		return nil, fmt.Errorf("decode event: %w", err)
	}
	return evs, nil
}

// leanEvent is Event without user and ts, the fields a load generator
// never reads: encoding/json skips them without allocating.
type leanEvent struct {
	Type      string `json:"type"`
	Room      int64  `json:"room"`
	Seq       int64  `json:"seq"`
	LastSeq   int64  `json:"last_seq"`
	Body      string `json:"body"`
	CID       string `json:"cid"`
	Online    bool   `json:"online"`
	Duplicate bool   `json:"duplicate"`
	Code      string `json:"code"`
	Message   string `json:"message"`
	// Room events and their acks (a load generator tracks them too).
	Target int64  `json:"target"`
	Emoji  string `json:"emoji"`
	Op     string `json:"op"`
	Noop   bool   `json:"noop"`
}

// decodeLean is DecodeFrame without user and ts (DialOptions.Lean).
func decodeLean(data []byte) ([]Event, error) {
	data = bytes.TrimLeft(data, " \t\r\n")
	if len(data) == 0 {
		return nil, errors.New("empty frame")
	}
	var one [1]leanEvent
	lean := one[:]
	if data[0] == '[' {
		lean = nil
		if err := json.Unmarshal(data, &lean); err != nil {
			return nil, fmt.Errorf("decode event batch: %w", err)
		}
	} else if err := json.Unmarshal(data, &one[0]); err != nil {
		return nil, fmt.Errorf("decode event: %w", err)
	}
	evs := make([]Event, len(lean))
	for i, l := range lean {
		evs[i] = Event{Type: l.Type, Room: l.Room, Seq: l.Seq, LastSeq: l.LastSeq, Body: l.Body, CID: l.CID,
			Online: l.Online, Duplicate: l.Duplicate, Code: l.Code, Message: l.Message,
			Target: l.Target, Emoji: l.Emoji, Op: l.Op, Noop: l.Noop}
	}
	return evs, nil
}

// Client → server frames, for WriteFrame and tests.

type subscribeFrame struct {
	Type  string `json:"type"`
	Room  int64  `json:"room"`
	Since *int64 `json:"since,omitempty"`
}

type sendFrame struct {
	Type string `json:"type"`
	Room int64  `json:"room"`
	Body string `json:"body"`
	CID  string `json:"cid"`
}

type roomFrame struct {
	Type string `json:"type"`
	Room int64  `json:"room"`
}

// PingFrame is {"type":"ping"}.
var PingFrame = []byte(`{"type":"ping"}`)

// SubscribeFrame encodes a subscribe; since nil subscribes live only.
func SubscribeFrame(room int64, since *int64) []byte {
	b, _ := json.Marshal(subscribeFrame{Type: "subscribe", Room: room, Since: since})
	return b
}

// SendFrame encodes a send.
func SendFrame(room int64, body, cid string) []byte {
	b, _ := json.Marshal(sendFrame{Type: "send", Room: room, Body: body, CID: cid})
	return b
}

func roomFrameOf(typ string, room int64) []byte {
	b, _ := json.Marshal(roomFrame{Type: typ, Room: room})
	return b
}

var (
	cidPrefix  = newCIDPrefix()
	cidCounter atomic.Uint64
)

func newCIDPrefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// NewCID returns a cid unique to this process run (random prefix, counter).
func NewCID() string {
	return cidPrefix + "-" + strconv.FormatUint(cidCounter.Add(1), 36)
}

// Since is a helper for subscribe calls: a pointer to seq.
func Since(seq int64) *int64 { return &seq }
