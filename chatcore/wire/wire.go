// Package wire is the WebSocket and REST contract of PROTOCOL.md as Go types:
// the frames clients send, the events the server sends, and the error codes.
package wire

import (
	"encoding/json"
	"strconv"

	"github.com/chatgate/chatgate/chatcore"
)

// Client frame types.
const (
	TypeSubscribe   = "subscribe"
	TypeUnsubscribe = "unsubscribe"
	TypeSend        = "send"
	TypeTyping      = "typing"
	TypePing        = "ping"
	// Room events (client frames; the events delivered have their own
	// types below).
	TypeEdit    = "edit"
	TypeDelete  = "delete"
	TypeReact   = "react"
	TypeUnreact = "unreact"
)

// Server event types.
const (
	TypeAck        = "ack"
	TypeMessage    = "message"
	TypeError      = "error"
	TypePong       = "pong"
	TypeSubscribed = "subscribed"
	TypeUnsubbed   = "unsubscribed"
	TypePresence   = "presence"
	// TypeReaction is a reaction added or removed (Op); edits and deletes
	// are delivered as TypeEdit and TypeDelete.
	TypeReaction = "reaction"
	TypeMention  = "mention"
	TypeRooms    = "rooms"
)

// Error codes shared by REST bodies and WebSocket error events.
const (
	CodeBadRequest   = "bad_request"
	CodeUnauthorized = "unauthorized"
	CodeForbidden    = "forbidden"
	CodeNotFound     = "not_found"
	CodeConflict     = "conflict"
	CodeTooLarge     = "too_large"
	CodeRateLimited  = "rate_limited"
	// CodeTooManyRooms refuses a subscribe past the per-connection cap.
	CodeTooManyRooms = "too_many_rooms"
	CodeUnavailable  = "unavailable"
	CodeInternal     = "internal"
)

// WebSocket close codes beyond RFC 6455's: 4000 + an HTTP-like status.
const (
	CloseUnauthorized = 4401
	CloseTooSlow      = 4408
	CloseRateLimited  = 4429
)

// ClientFrame is any frame a client sends; fields unused by a type are
// ignored. Since is a pointer because "since":0 (replay everything) differs
// from no since at all (live only).
type ClientFrame struct {
	Type  string `json:"type"`
	Room  int64  `json:"room"`
	Since *int64 `json:"since,omitempty"`
	Body  string `json:"body"`
	CID   string `json:"cid"`
	// Files are ids of the sender's uploads to attach to a send.
	Files []int64 `json:"files,omitempty"`
	// Seq names the message an edit, delete, react or unreact is about.
	Seq   int64  `json:"seq"`
	Emoji string `json:"emoji"`
}

// MessageEvent is a message as delivered on the socket.
type MessageEvent struct {
	Type string `json:"type"`
	Msg
}

// AckEvent confirms a stored send.
type AckEvent struct {
	Type      string `json:"type"`
	CID       string `json:"cid"`
	Room      int64  `json:"room"`
	Seq       int64  `json:"seq"`
	Duplicate bool   `json:"duplicate,omitempty"`
	// Target is the message a room event's ack is about; Noop: the event
	// changed nothing (no seq).
	Target int64 `json:"target,omitempty"`
	Noop   bool  `json:"noop,omitempty"`
}

// ErrorEvent refuses a frame.
type ErrorEvent struct {
	Type    string `json:"type"`
	Code    string `json:"code"`
	Message string `json:"message"`
	CID     string `json:"cid,omitempty"`
	Room    int64  `json:"room,omitempty"`
}

// SubscribedEvent answers subscribe. LastSeq is the room's newest seq at the
// moment the subscription started: replayed messages run up to it, live ones
// follow it.
type SubscribedEvent struct {
	Type    string `json:"type"`
	Room    int64  `json:"room"`
	LastSeq int64  `json:"last_seq"`
}

// RoomEvent is an event that names only a room (unsubscribed).
type RoomEvent struct {
	Type string `json:"type"`
	Room int64  `json:"room"`
}

// TypingEvent tells a room that a user is typing.
type TypingEvent struct {
	Type string `json:"type"`
	Room int64  `json:"room"`
	User int64  `json:"user"`
}

// PresenceEvent tells a room that a user came online (has a live
// subscription to it on some instance) or went offline.
type PresenceEvent struct {
	Type   string `json:"type"`
	Room   int64  `json:"room"`
	User   int64  `json:"user"`
	Online bool   `json:"online"`
}

// ErrorBody is the REST error envelope.
type ErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// Encode marshals an event. The events here cannot fail to marshal, so an
// error is a programming bug and panics.
func Encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("wire: encode: " + err.Error())
	}
	return b
}

// EncodeMessage returns the JSON of a stream entry's event: a message, or
// a room event (edit, delete, reaction).
func EncodeMessage(m *chatcore.Message) []byte {
	return Encode(Entry(m))
}

// Entry is a stream entry as an event object (with its type): a
// MessageEvent or a RoomEventOf.
func Entry(m *chatcore.Message) any {
	if m.Kind == chatcore.KindMessage {
		return MessageEvent{Type: TypeMessage, Msg: FromMessage(m)}
	}
	return FromEvent(m)
}

// Msg is MSG of PROTOCOL.md as REST returns it: ts with fixed microsecond
// precision, so clients can rely on the fractional part being there. The
// state fields are set on messages read from the store that events changed.
type Msg struct {
	Room      int64               `json:"room"`
	Seq       int64               `json:"seq"`
	User      chatcore.UserRef    `json:"user"`
	Body      string              `json:"body"`
	CID       string              `json:"cid,omitempty"`
	TS        string              `json:"ts"`
	EditedAt  string              `json:"edited_at,omitempty"`
	Deleted   bool                `json:"deleted,omitempty"`
	Reactions []chatcore.Reaction `json:"reactions,omitempty"`
	Rev       int64               `json:"rev,omitempty"`
	// Files is absent when the message has none.
	Files []File `json:"files,omitempty"`
}

// RoomEventOf is a room event (EVENT of PROTOCOL.md): Type is edit, delete
// or reaction, Target the message's seq. Body is an edit's text, Emoji and
// Op (add, remove) a reaction's.
type RoomEventOf struct {
	Type   string           `json:"type"`
	Room   int64            `json:"room"`
	Seq    int64            `json:"seq"`
	Target int64            `json:"target"`
	User   chatcore.UserRef `json:"user"`
	Body   string           `json:"body,omitempty"`
	Emoji  string           `json:"emoji,omitempty"`
	Op     string           `json:"op,omitempty"`
	CID    string           `json:"cid,omitempty"`
	TS     string           `json:"ts"`
}

// FromEvent converts a stored room event.
func FromEvent(m *chatcore.Message) RoomEventOf {
	e := RoomEventOf{Room: m.Room, Seq: m.Seq, Target: m.Target, User: m.User, CID: m.CID, TS: m.TS.UTC().Format(TSLayout)}
	switch m.Kind {
	case chatcore.KindEdit:
		e.Type, e.Body = TypeEdit, m.Body
	case chatcore.KindDelete:
		e.Type = TypeDelete
	case chatcore.KindReact:
		e.Type, e.Emoji, e.Op = TypeReaction, m.Body, "add"
	case chatcore.KindUnreact:
		e.Type, e.Emoji, e.Op = TypeReaction, m.Body, "remove"
	}
	return e
}

// MentionEvent tells a user they were mentioned: sent to every connection
// of theirs, subscribed to the room or not.
type MentionEvent struct {
	Type string           `json:"type"`
	Room int64            `json:"room"`
	Seq  int64            `json:"seq"`
	User chatcore.UserRef `json:"user"`
	Body string           `json:"body"`
	TS   string           `json:"ts"`
}

// RoomsEvent tells a user that their room list changed because of Room
// (Why: "dm", a direct message with them was opened; "invited", they were
// added to it; "updated", it was renamed or its topic changed): the
// client reloads GET /api/rooms. It reaches every connection of the user,
// subscribed to the room or not.
type RoomsEvent struct {
	Type string `json:"type"`
	Room int64  `json:"room"`
	Why  string `json:"why"`
}

// File is an attached file as messages carry it (PROTOCOL.md, Files):
// what a client needs to show it (a box of Width × Height for an image
// before it loads) and where to fetch it.
type File struct {
	chatcore.File
	URL string `json:"url"`
}

// FileURL is where a room's file is fetched (GET, members only).
func FileURL(room, id int64) string {
	return "/api/rooms/" + strconv.FormatInt(room, 10) + "/files/" + strconv.FormatInt(id, 10)
}

// FromFile converts a file's metadata.
func FromFile(room int64, f *chatcore.File) File {
	return File{File: *f, URL: FileURL(room, f.ID)}
}

// TSLayout is RFC 3339 with microseconds, UTC.
const TSLayout = "2006-01-02T15:04:05.000000Z07:00"

// FromMessage converts a stored message.
func FromMessage(m *chatcore.Message) Msg {
	out := Msg{Room: m.Room, Seq: m.Seq, User: m.User, Body: m.Body, CID: m.CID, TS: m.TS.UTC().Format(TSLayout),
		Deleted: m.Deleted, Reactions: m.Reactions, Rev: m.Rev}
	if !m.EditedAt.IsZero() {
		out.EditedAt = m.EditedAt.UTC().Format(TSLayout)
	}
	if len(m.Files) > 0 {
		out.Files = make([]File, len(m.Files))
		for i := range m.Files {
			out.Files[i] = FromFile(m.Room, &m.Files[i])
		}
	}
	return out
}
