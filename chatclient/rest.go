package chatclient

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// User is a user as the API shows it (Email only for oneself).
type User struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
}

// Auth is the answer of Register and Login.
type Auth struct {
	User  User   `json:"user"`
	Token string `json:"token"`
}

// Room is a room as GET /api/rooms and /api/rooms/{id} show it. Joined and
// LastReadSeq are the caller's and come only with the room list.
type Room struct {
	ID           int64     `json:"id"`
	Name         string    `json:"name"`
	IsPrivate    bool      `json:"is_private"`
	CreatedBy    int64     `json:"created_by"`
	CreatedAt    time.Time `json:"created_at"`
	LastSeq      int64     `json:"last_seq"`
	MemberCount  int64     `json:"member_count"`
	MessageCount int64     `json:"message_count"`
	Joined       bool      `json:"joined"`
	LastReadSeq  int64     `json:"last_read_seq"`
	// UnreadMentions: the caller's mentions above LastReadSeq (room list).
	UnreadMentions int64 `json:"unread_mentions"`
	// Unread: the caller's messages above LastReadSeq, room events not
	// counted (room list). MessageCount counts messages only too.
	Unread int64  `json:"unread"`
	Kind   string `json:"kind"` // "room" or "dm" (a direct message)
	Topic  string `json:"topic"`
}

// Member is one member of a room.
type Member struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	Role string `json:"role"`
}

// Message is MSG of the protocol: a stored message, or, in a catch-up
// page (MessagesAfter), any entry of the room's stream: Type is "message"
// or a room event's ("edit", "delete", "reaction", with Target, Emoji and
// Op). A message read from history is in its current state: EditedAt,
// Deleted, Reactions, and Rev, the seq of the last event that state shows.
type Message struct {
	Type      string     `json:"type,omitempty"`
	Room      int64      `json:"room"`
	Seq       int64      `json:"seq"`
	User      UserRef    `json:"user"`
	Body      string     `json:"body"`
	CID       string     `json:"cid,omitempty"`
	TS        time.Time  `json:"ts"`
	EditedAt  string     `json:"edited_at,omitempty"`
	Deleted   bool       `json:"deleted,omitempty"`
	Reactions []Reaction `json:"reactions,omitempty"`
	Rev       int64      `json:"rev,omitempty"`
	Target    int64      `json:"target,omitempty"`
	Emoji     string     `json:"emoji,omitempty"`
	Op        string     `json:"op,omitempty"`
	// Files are the message's attached files (absent: none).
	Files []File `json:"files,omitempty"`
}

// File is an uploaded file as an upload answers it and messages carry it
// (PROTOCOL.md, Files). Width and Height: images only.
type File struct {
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	Type   string `json:"type"`
	Size   int64  `json:"size"`
	Width  int    `json:"width,omitempty"`
	Height int    `json:"height,omitempty"`
	URL    string `json:"url"`
}

// Page is one page of history.
type Page struct {
	Messages []Message `json:"messages"`
	HasMore  bool      `json:"has_more"`
}

func (c *Client) auth(ctx context.Context, path string, in map[string]string) (*Auth, error) {
	var out Auth
	if _, err := c.Do(ctx, http.MethodPost, path, in, &out); err != nil {
		return nil, err
	}
	c.SetToken(out.Token)
	return &out, nil
}

// Register creates an account (201) and signs the client in with its token.
func (c *Client) Register(ctx context.Context, name, email, password string) (*Auth, error) {
	return c.auth(ctx, "/api/auth/register", map[string]string{"name": name, "email": email, "password": password})
}

// Login signs in with e-mail and password and keeps the token.
func (c *Client) Login(ctx context.Context, email, password string) (*Auth, error) {
	return c.auth(ctx, "/api/auth/login", map[string]string{"email": email, "password": password})
}

// Me is the signed-in user.
func (c *Client) Me(ctx context.Context) (*User, error) {
	var u User
	if _, err := c.Do(ctx, http.MethodGet, "/api/me", nil, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// User is another user's public profile.
func (c *Client) User(ctx context.Context, id int64) (*User, error) {
	var u User
	if _, err := c.Do(ctx, http.MethodGet, "/api/users/"+strconv.FormatInt(id, 10), nil, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// Rooms lists the public rooms and the caller's private ones.
func (c *Client) Rooms(ctx context.Context) ([]Room, error) {
	var out struct {
		Rooms []Room `json:"rooms"`
	}
	if _, err := c.Do(ctx, http.MethodGet, "/api/rooms", nil, &out); err != nil {
		return nil, err
	}
	return out.Rooms, nil
}

// CreateRoom creates a room; the caller becomes its owner and a member.
func (c *Client) CreateRoom(ctx context.Context, name string, private bool) (*Room, error) {
	var r Room
	if _, err := c.Do(ctx, http.MethodPost, "/api/rooms", map[string]any{"name": name, "is_private": private}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

func roomPath(id int64, rest string) string {
	return "/api/rooms/" + strconv.FormatInt(id, 10) + rest
}

// Room reads one room (members only for private rooms).
func (c *Client) Room(ctx context.Context, id int64) (*Room, error) {
	var r Room
	if _, err := c.Do(ctx, http.MethodGet, roomPath(id, ""), nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Join joins a public room.
func (c *Client) Join(ctx context.Context, room int64) error {
	_, err := c.Do(ctx, http.MethodPost, roomPath(room, "/join"), nil, nil)
	return err
}

// Leave leaves a room; the caller's subscriptions to it end with an
// unsubscribed event on every instance.
func (c *Client) Leave(ctx context.Context, room int64) error {
	_, err := c.Do(ctx, http.MethodPost, roomPath(room, "/leave"), nil, nil)
	return err
}

// Invite adds a user to a room (how private rooms get members).
func (c *Client) Invite(ctx context.Context, room, user int64) error {
	_, err := c.Do(ctx, http.MethodPost, roomPath(room, "/members"), map[string]any{"user_id": user}, nil)
	return err
}

// RemoveMember removes a user from a room (the owner only, never itself).
func (c *Client) RemoveMember(ctx context.Context, room, user int64) error {
	_, err := c.Do(ctx, http.MethodDelete, roomPath(room, "/members/"+strconv.FormatInt(user, 10)), nil, nil)
	return err
}

// Members lists a room's members.
func (c *Client) Members(ctx context.Context, room int64) ([]Member, error) {
	var out struct {
		Members []Member `json:"members"`
	}
	if _, err := c.Do(ctx, http.MethodGet, roomPath(room, "/members"), nil, &out); err != nil {
		return nil, err
	}
	return out.Members, nil
}

// MessagesBefore reads history newest first below seq before (before ≤ 0:
// from the newest); limit 1..200, 0 for the server's default (50).
func (c *Client) MessagesBefore(ctx context.Context, room, before int64, limit int) (*Page, error) {
	q := "?"
	if before > 0 {
		q += "before=" + strconv.FormatInt(before, 10) + "&"
	}
	return c.page(ctx, room, q, limit)
}

// MessagesAfter reads history oldest first above seq after (catch-up: the
// missing range after a gap, or everything with after = 0).
func (c *Client) MessagesAfter(ctx context.Context, room, after int64, limit int) (*Page, error) {
	return c.page(ctx, room, "?after="+strconv.FormatInt(after, 10)+"&", limit)
}

func (c *Client) page(ctx context.Context, room int64, q string, limit int) (*Page, error) {
	if limit > 0 {
		q += "limit=" + strconv.Itoa(limit)
	}
	if q[len(q)-1] == '&' || q[len(q)-1] == '?' {
		q = q[:len(q)-1]
	}
	var p Page
	if _, err := c.Do(ctx, http.MethodGet, roomPath(room, "/messages"+q), nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Post sends a message over REST, the same path as a WebSocket send: cid
// makes it idempotent (a resend with the same cid is answered with the
// stored message and duplicate = true). An empty cid is replaced by a fresh
// one.
func (c *Client) Post(ctx context.Context, room int64, body, cid string) (msg *Message, duplicate bool, err error) {
	if cid == "" {
		cid = NewCID()
	}
	var m Message
	r, err := c.Do(ctx, http.MethodPost, roomPath(room, "/messages"), map[string]string{"body": body, "cid": cid}, &m)
	if err != nil {
		return nil, false, err
	}
	return &m, r.StatusCode == http.StatusOK, nil
}

// PostFiles is Post with files attached: ids of the caller's uploads to
// room (Upload), at most 10, not attached to another message yet. body may
// then be empty.
func (c *Client) PostFiles(ctx context.Context, room int64, body, cid string, files []int64) (msg *Message, duplicate bool, err error) {
	if cid == "" {
		cid = NewCID()
	}
	var m Message
	r, err := c.Do(ctx, http.MethodPost, roomPath(room, "/messages"), map[string]any{"body": body, "cid": cid, "files": files}, &m)
	if err != nil {
		return nil, false, err
	}
	return &m, r.StatusCode == http.StatusOK, nil
}

// fileBody is a request body sent as it is, as application/octet-stream
// (Do sends anything else as JSON).
type fileBody struct{ r io.Reader }

// Upload stores a file in room, streaming r as the request body; name is
// the file's name (the server keeps its last path element). The server
// decides the type from the bytes. Attach the answer's ID to a message
// with PostFiles (or a WebSocket send's files); fetch it from its URL.
func (c *Client) Upload(ctx context.Context, room int64, name string, r io.Reader) (*File, error) {
	var f File
	if _, err := c.Do(ctx, http.MethodPost, roomPath(room, "/files?name="+url.QueryEscape(name)), fileBody{r}, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// MarkRead sets the caller's last read seq in a room (unread marks).
func (c *Client) MarkRead(ctx context.Context, room, seq int64) error {
	_, err := c.Do(ctx, http.MethodPost, roomPath(room, "/read"), map[string]int64{"seq": seq}, nil)
	return err
}

// Presence lists the users online in a room (a live subscription on any
// instance).
func (c *Client) Presence(ctx context.Context, room int64) ([]int64, error) {
	var out struct {
		Online []int64 `json:"online"`
	}
	if _, err := c.Do(ctx, http.MethodGet, roomPath(room, "/presence"), nil, &out); err != nil {
		return nil, err
	}
	return out.Online, nil
}

// Logout clears the browser cookie; tokens stay valid until they expire.
func (c *Client) Logout(ctx context.Context) error {
	_, err := c.Do(ctx, http.MethodPost, "/api/auth/logout", nil, nil)
	if err == nil {
		c.SetToken("")
	}
	return err
}
