// Package chatcore holds Chatgate's domain: the types every layer shares and
// the errors the wire protocol reports. Sub-packages hold the Postgres store,
// auth tokens, the local hub and the bus; none of them imports Caddy, so the
// core runs from a plain main as well as inside the custom Caddy binary.
package chatcore

import (
	"errors"
	"time"
)

// User is an account. PasswordHash never leaves the store layer on the wire.
type User struct {
	ID           int64     `json:"id"`
	Name         string    `json:"name"`
	Email        string    `json:"email,omitempty"`
	PasswordHash string    `json:"-"`
	CreatedAt    time.Time `json:"-"`
	// TokenGen is the session generation tokens are issued under
	// (auth.Claims.Gen); never on the wire, nor in the user cache.
	TokenGen int64 `json:"-"`
}

// Room is a chat room with the counters the REST API reports.
type Room struct {
	ID           int64     `json:"id"`
	Name         string    `json:"name"`
	IsPrivate    bool      `json:"is_private"`
	CreatedBy    int64     `json:"created_by"`
	CreatedAt    time.Time `json:"created_at"`
	LastSeq      int64     `json:"last_seq"`
	MemberCount  int64     `json:"member_count"`
	MessageCount int64     `json:"message_count"`
	// Joined and LastReadSeq are relative to the user who asked.
	Joined      bool  `json:"joined"`
	LastReadSeq int64 `json:"last_read_seq"`
	// UnreadMentions counts the user's mentions above LastReadSeq (room
	// list only).
	UnreadMentions int64 `json:"unread_mentions"`
	// Unread counts the messages above LastReadSeq, not the room events
	// among them (room list only).
	Unread int64 `json:"unread"`
	// Kind is KindRoom or KindDM (a direct message: private, exactly two
	// members, no owner). Kind and Topic come after the older fields so the fields before
	// them keep their places in the JSON.
	Kind  string `json:"kind"`
	Topic string `json:"topic"`
}

// UnreadMessages is a member's unread messages in a room of messages
// messages (its seqs not taken by room events), whose read marker is
// lastRead with readEvents of the room's events at or below it. Never
// negative: a marker past the newest message has read everything.
func UnreadMessages(messages, lastRead, readEvents int64) int64 {
	return max(0, messages-(lastRead-readEvents))
}

// Member is one user's membership of a room.
type Member struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	Role string `json:"role"`
}

// UserRef is how a message names its author.
type UserRef struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// Message is one entry of a room's stream: a chat message or an event
// about one (Kind: an edit, a delete, a reaction). Seq is gap-free per room
// over both. For an event, Target is the message's seq and Body the edit's
// text or the reaction's emoji; User is who acted. A message read from the
// store carries its current state (EditedAt, Deleted, Reactions) and Rev,
// the seq of the last event that state shows (0: none); one delivered at
// commit is as sent.
type Message struct {
	Room      int64      `json:"room"`
	Seq       int64      `json:"seq"`
	User      UserRef    `json:"user"`
	Body      string     `json:"body"`
	CID       string     `json:"cid,omitempty"`
	TS        time.Time  `json:"ts"`
	Kind      Kind       `json:"k,omitempty"`
	Target    int64      `json:"t,omitempty"`
	Rev       int64      `json:"rev,omitempty"`
	EditedAt  time.Time  `json:"ea,omitzero"`
	Deleted   bool       `json:"del,omitempty"`
	Reactions []Reaction `json:"rx,omitempty"`
	// Files are the uploads attached to the message, in upload order.
	Files []File `json:"files,omitempty"`
	// Mentioned is the users the message mentions, as its commit recorded
	// them (store.SendRequest.Mentions); set only on the instance that
	// committed it, never on the wire.
	Mentioned []int64 `json:"-"`
}

// File is an uploaded file's metadata as messages carry it. Width and
// Height are set for images only.
type File struct {
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	Type   string `json:"type"`
	Size   int64  `json:"size"`
	Width  int    `json:"width,omitempty"`
	Height int    `json:"height,omitempty"`
}

// Kind says what a stream entry is (messages.kind).
type Kind int8

// Kinds of stream entries.
const (
	KindMessage Kind = 0
	KindEdit    Kind = 1
	KindDelete  Kind = 2
	KindReact   Kind = 3
	KindUnreact Kind = 4
)

// Reaction is one emoji on a message and who put it there (oldest first).
type Reaction struct {
	Emoji string  `json:"emoji"`
	Users []int64 `json:"users"`
}

// Kinds of room.
const (
	KindRoom = "room"
	KindDM   = "dm"
)

// Roles a member can hold.
const (
	RoleOwner  = "owner"
	RoleMember = "member"
)

// Sentinel errors the store and the hub return; the API maps them to the
// error codes of PROTOCOL.md.
var (
	ErrNotFound    = errors.New("not found")
	ErrConflict    = errors.New("conflict")
	ErrForbidden   = errors.New("forbidden")
	ErrUnavailable = errors.New("unavailable")
	// ErrInvalidInput is a value the database refused (a NUL or an
	// unencodable character, a string too long for an index...): the
	// request's fault, so it is a 400 and retrying it cannot help.
	ErrInvalidInput = errors.New("invalid input")
)
