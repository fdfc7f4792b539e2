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

// EncodeMessage returns the message event's JSON.
func EncodeMessage(m *chatcore.Message) []byte {
	return Encode(MessageEvent{Type: TypeMessage, Msg: FromMessage(m)})
}

// Msg is MSG of PROTOCOL.md as REST returns it: ts with fixed microsecond
// precision, so clients can rely on the fractional part being there.
type Msg struct {
	Room int64            `json:"room"`
	Seq  int64            `json:"seq"`
	User chatcore.UserRef `json:"user"`
	Body string           `json:"body"`
	CID  string           `json:"cid,omitempty"`
	TS   string           `json:"ts"`
	// Files is absent when the message has none.
	Files []File `json:"files,omitempty"`
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
	out := Msg{Room: m.Room, Seq: m.Seq, User: m.User, Body: m.Body, CID: m.CID, TS: m.TS.UTC().Format(TSLayout)}
	if len(m.Files) > 0 {
		out.Files = make([]File, len(m.Files))
		for i := range m.Files {
			out.Files[i] = FromFile(m.Room, &m.Files[i])
		}
	}
	return out
}
