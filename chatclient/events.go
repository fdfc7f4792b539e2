package chatclient

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
)

// Room events: edits, deletes and reactions are entries of the room's
// stream with their own seq (PROTOCOL.md, Room events). Apply them to the
// messages you hold with RoomState, which keeps the one rule that makes a
// resumed client end where a client that never left did: an event whose
// seq is not above its target's Rev is already in the target's state.

// Reaction is one emoji on a message and the users who put it there,
// oldest first. Mine tells whether me is among them.
type Reaction struct {
	Emoji string  `json:"emoji"`
	Users []int64 `json:"users"`
}

// Reactions is a message's reactions as the raw JSON array, so Event stays
// comparable; List decodes it.
type Reactions string

// UnmarshalJSON keeps the array as it came.
func (r *Reactions) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*r = ""
		return nil
	}
	*r = Reactions(b)
	return nil
}

// List decodes the reactions (nil when there are none).
func (r Reactions) List() []Reaction {
	if r == "" {
		return nil
	}
	var out []Reaction
	_ = json.Unmarshal([]byte(r), &out)
	return out
}

// Mine reports whether user reacted with this emoji.
func (r Reaction) Mine(user int64) bool { return slices.Contains(r.Users, user) }

// Count is the number of users who reacted with this emoji.
func (r Reaction) Count() int { return len(r.Users) }

type eventFrame struct {
	Type  string `json:"type"`
	Room  int64  `json:"room"`
	Seq   int64  `json:"seq"`
	Body  string `json:"body,omitempty"`
	Emoji string `json:"emoji,omitempty"`
	CID   string `json:"cid"`
}

// EventFrame encodes an edit, delete, react or unreact frame about the
// message seq (body: an edit's text; emoji: a reaction's).
func EventFrame(typ string, room, seq int64, body, emoji, cid string) []byte {
	b, _ := json.Marshal(eventFrame{Type: typ, Room: room, Seq: seq, Body: body, Emoji: emoji, CID: cid})
	return b
}

// EventAck is the answer to a room event: stored as Seq (0 when Noop:
// nothing changed), about the message Target.
type EventAck struct {
	Room      int64  `json:"room"`
	Target    int64  `json:"target"`
	Seq       int64  `json:"seq"`
	CID       string `json:"cid"`
	Duplicate bool   `json:"duplicate"`
	Noop      bool   `json:"noop"`
}

func (c *Conn) event(ctx context.Context, typ string, room, seq int64, body, emoji, cid string) (*EventAck, error) {
	if cid == "" {
		cid = NewCID()
	}
	e, err := c.call(ctx, EventFrame(typ, room, seq, body, emoji, cid),
		func(ch chan *Event) { c.acks[cid] = ch },
		func(chan *Event) { delete(c.acks, cid) })
	if err != nil {
		return nil, err
	}
	return &EventAck{Room: e.Room, Target: e.Target, Seq: e.Seq, CID: e.CID, Duplicate: e.Duplicate, Noop: e.Noop}, nil
}

// Edit replaces the text of the caller's message seq and waits for the ack.
// cid makes it idempotent, as for Send ("" is a fresh one).
func (c *Conn) Edit(ctx context.Context, room, seq int64, body, cid string) (*EventAck, error) {
	return c.event(ctx, "edit", room, seq, body, "", cid)
}

// Delete deletes message seq (the author's own, or any as the room's
// owner) and waits for the ack.
func (c *Conn) Delete(ctx context.Context, room, seq int64, cid string) (*EventAck, error) {
	return c.event(ctx, "delete", room, seq, "", "", cid)
}

// React adds the caller's emoji reaction to message seq.
func (c *Conn) React(ctx context.Context, room, seq int64, emoji, cid string) (*EventAck, error) {
	return c.event(ctx, "react", room, seq, "", emoji, cid)
}

// Unreact removes the caller's emoji reaction from message seq.
func (c *Conn) Unreact(ctx context.Context, room, seq int64, emoji, cid string) (*EventAck, error) {
	return c.event(ctx, "unreact", room, seq, "", emoji, cid)
}

func msgPath(room, seq int64, rest string) string {
	return roomPath(room, "/messages/"+strconv.FormatInt(seq, 10)+rest)
}

func cidQuery(cid string) string {
	if cid == "" {
		return ""
	}
	return "?cid=" + url.QueryEscape(cid)
}

// EditMessage is Edit over REST (PATCH /api/rooms/{id}/messages/{seq}).
func (c *Client) EditMessage(ctx context.Context, room, seq int64, body, cid string) (*EventAck, error) {
	var a EventAck
	_, err := c.Do(ctx, http.MethodPatch, msgPath(room, seq, ""), map[string]string{"body": body, "cid": cid}, &a)
	return &a, err
}

// DeleteMessage is Delete over REST (DELETE /api/rooms/{id}/messages/{seq}).
func (c *Client) DeleteMessage(ctx context.Context, room, seq int64, cid string) (*EventAck, error) {
	var a EventAck
	_, err := c.Do(ctx, http.MethodDelete, msgPath(room, seq, cidQuery(cid)), nil, &a)
	return &a, err
}

// AddReaction is React over REST (PUT …/messages/{seq}/reactions/{emoji}).
func (c *Client) AddReaction(ctx context.Context, room, seq int64, emoji, cid string) (*EventAck, error) {
	var a EventAck
	_, err := c.Do(ctx, http.MethodPut, msgPath(room, seq, "/reactions/"+url.PathEscape(emoji)+cidQuery(cid)), nil, &a)
	return &a, err
}

// RemoveReaction is Unreact over REST (DELETE …/reactions/{emoji}).
func (c *Client) RemoveReaction(ctx context.Context, room, seq int64, emoji, cid string) (*EventAck, error) {
	var a EventAck
	_, err := c.Do(ctx, http.MethodDelete, msgPath(room, seq, "/reactions/"+url.PathEscape(emoji)+cidQuery(cid)), nil, &a)
	return &a, err
}

// MessageState is a message as a client shows it.
type MessageState struct {
	Seq       int64
	User      int64
	Body      string
	Edited    bool
	Deleted   bool
	Reactions []Reaction // in order of first reaction
	Rev       int64      // seq of the last event applied
}

// RoomState is one room's messages in their current state, built from the
// stream (events, replays, catch-up pages) in any mix: Apply each entry
// once, in seq order. Not safe for concurrent use.
type RoomState struct {
	Messages map[int64]*MessageState
	// Last is the highest seq applied.
	Last int64
}

// Apply folds one entry of the stream (a message, or an edit, delete or
// reaction event) into the state. A message read from the store carries
// its current state and Rev; an event at or below its target's Rev is
// already part of it and is skipped.
func (s *RoomState) Apply(e *Event) {
	if s.Messages == nil {
		s.Messages = make(map[int64]*MessageState)
	}
	if e.Seq > s.Last {
		s.Last = e.Seq
	}
	switch e.Type {
	case TypeMessage:
		m := &MessageState{Seq: e.Seq, User: e.User.ID, Body: e.Body, Edited: e.EditedAt != "", Deleted: e.Deleted, Rev: e.Rev}
		m.Reactions = e.Reactions.List()
		s.Messages[e.Seq] = m
		return
	case TypeEdit, TypeDelete, TypeReaction:
	default:
		return
	}
	m := s.Messages[e.Target]
	if m == nil || e.Seq <= m.Rev {
		return
	}
	m.Rev = e.Seq
	switch e.Type {
	case TypeEdit:
		m.Body, m.Edited = e.Body, true
	case TypeDelete:
		m.Body, m.Deleted, m.Reactions = "", true, nil
	case TypeReaction:
		i := slices.IndexFunc(m.Reactions, func(r Reaction) bool { return r.Emoji == e.Emoji })
		if e.Op == "add" {
			if i < 0 {
				m.Reactions = append(m.Reactions, Reaction{Emoji: e.Emoji})
				i = len(m.Reactions) - 1
			}
			if !slices.Contains(m.Reactions[i].Users, e.User.ID) {
				m.Reactions[i].Users = append(m.Reactions[i].Users, e.User.ID)
			}
		} else if i >= 0 {
			m.Reactions[i].Users = slices.DeleteFunc(m.Reactions[i].Users, func(u int64) bool { return u == e.User.ID })
			if len(m.Reactions[i].Users) == 0 {
				m.Reactions = slices.Delete(m.Reactions, i, i+1)
			}
		}
	}
}

// ApplyPage folds a catch-up page's entries (MessagesAfter) in.
func (s *RoomState) ApplyPage(p *Page) {
	for i := range p.Messages {
		m := &p.Messages[i]
		typ := m.Type
		if typ == "" {
			typ = TypeMessage
		}
		var rx Reactions
		if len(m.Reactions) > 0 {
			b, _ := json.Marshal(m.Reactions)
			rx = Reactions(b)
		}
		s.Apply(&Event{Type: typ, Room: m.Room, Seq: m.Seq, User: m.User, Body: m.Body, CID: m.CID,
			Target: m.Target, Emoji: m.Emoji, Op: m.Op, EditedAt: m.EditedAt, Deleted: m.Deleted,
			Reactions: rx, Rev: m.Rev})
	}
}
