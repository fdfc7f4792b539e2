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
	// Kind is KindRoom or KindDM (a direct message: private, exactly two
	// members, no owner). Kind and Topic come last so the fields before
	// them keep their places in the JSON.
	Kind  string `json:"kind"`
	Topic string `json:"topic"`
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

// Message is one stored chat message; Seq is gap-free per room.
type Message struct {
	Room int64     `json:"room"`
	Seq  int64     `json:"seq"`
	User UserRef   `json:"user"`
	Body string    `json:"body"`
	CID  string    `json:"cid,omitempty"`
	TS   time.Time `json:"ts"`
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
