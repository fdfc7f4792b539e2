package gateway

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"sync"

	"github.com/chatgate/chatgate/chatcore"
)

// The room list and room info are answered by the response cache in two
// parts (README.md, "API reads come from cache"):
//
//   - the stored part, the same for everyone who may see it: the public
//     rooms (GET /api/rooms, one entry for every user, tag rooms:list), a
//     room's info for its members (GET /api/rooms/{id}, tag members:R);
//     only room creations and membership changes drop them;
//   - composed in per answer: the counters (last_seq, message_count, from
//     the message_count entity cache, which every post drops) and, in the
//     list, the caller's own part (joined, last_read_seq and the private
//     rooms the caller belongs to, from the user_rooms entity cache, which
//     the caller's joins, leaves, removals, creations and read markers
//     drop).
//
// The wire shape is the one the API answers uncached. The API answers the
// stored part only when the cache's fill marks the request (WithStoredPart);
// requests that bypass the cache get the whole answer.

type storedPartKey struct{}

// WithStoredPart marks a request the response cache sends to the API to
// fill an entry that ComposeRoomList or ComposeRoom completes per answer.
func WithStoredPart(ctx context.Context) context.Context {
	return context.WithValue(ctx, storedPartKey{}, true)
}

func storedPart(ctx context.Context) bool {
	v, _ := ctx.Value(storedPartKey{}).(bool)
	return v
}

// ComposeRoomList builds user's room list from the stored part (the public
// rooms, {"rooms":[...]}, whose ETag is storedETag): it marks the rooms user
// belongs to (joined, the read marker), adds the private ones (from the
// room cache; a private room is only ever added from the user's own
// memberships) and fills every room's counters. It returns the list and
// its ETag.
//
// The stored part is decoded and pre-encoded once per ETag and kept
// (sharedList): an answer appends each room's encoded fields and its
// counters, with no JSON decoding or encoding of the public rooms.
func (c *Core) ComposeRoomList(ctx context.Context, user int64, stored []byte, storedETag string) ([]byte, string, error) {
	shared, err := c.caches().roomList.get(stored, storedETag)
	if err != nil {
		return nil, "", err
	}
	mine, err := c.cachedUserRooms(ctx, user)
	if err != nil {
		return nil, "", err
	}
	read := make(map[int64]int64, len(mine))
	mentions := make(map[int64]int64)
	for _, m := range mine {
		read[m.Room] = m.LastRead
		if m.Mentions > 0 {
			mentions[m.Room] = m.Mentions
		}
	}
	var private []chatcore.Room
	for _, m := range mine {
		if _, ok := shared.index[m.Room]; ok {
			continue
		}
		room, err := c.cachedRoom(ctx, m.Room)
		if err != nil {
			if errors.Is(err, chatcore.ErrNotFound) {
				continue // deleted since
			}
			return nil, "", err
		}
		room.Joined, room.LastReadSeq, room.UnreadMentions = true, m.LastRead, m.Mentions
		private = append(private, room)
	}
	slices.SortFunc(private, func(a, b chatcore.Room) int { return cmp.Compare(a.ID, b.ID) })
	ids := make([]int64, 0, len(shared.ids)+len(private))
	ids = append(ids, shared.ids...)
	for i := range private {
		ids = append(ids, private[i].ID)
	}
	seqs, err := c.lastSeqs(ctx, ids)
	if err != nil {
		return nil, "", err
	}
	b := make([]byte, 0, shared.size+len(private)*256+64)
	b = append(b, `{"rooms":[`...)
	first := true
	sep := func() {
		if !first {
			b = append(b, ',')
		}
		first = false
	}
	pi := 0
	addPrivate := func(below int64) {
		for ; pi < len(private) && private[pi].ID < below; pi++ {
			r := private[pi]
			r.LastSeq, r.MessageCount = seqs[r.ID], seqs[r.ID]
			enc, _ := json.Marshal(r)
			sep()
			b = append(b, enc...)
		}
	}
	for i, id := range shared.ids {
		addPrivate(id)
		sep()
		n := seqs[id]
		lastRead, joined := read[id]
		if !joined {
			lastRead = 0
		}
		b = append(b, shared.head[i]...)
		b = append(b, `,"last_seq":`...)
		b = strconv.AppendInt(b, n, 10)
		b = append(b, `,"member_count":`...)
		b = strconv.AppendInt(b, shared.members[i], 10)
		b = append(b, `,"message_count":`...)
		b = strconv.AppendInt(b, n, 10)
		b = append(b, `,"joined":`...)
		b = strconv.AppendBool(b, joined)
		b = append(b, `,"last_read_seq":`...)
		b = strconv.AppendInt(b, lastRead, 10)
		b = append(b, `,"unread_mentions":`...)
		b = strconv.AppendInt(b, mentions[id], 10)
		b = append(b, shared.tail[i]...)
		b = append(b, '}')
	}
	addPrivate(math.MaxInt64)
	b = append(b, "]}\n"...)
	sum := sha256.Sum256(b)
	return b, `"` + hex.EncodeToString(sum[:12]) + `"`, nil
}

// sharedList is a stored room list decoded once: per public room, in id
// order, its JSON up to the counters (head: id, name, is_private,
// created_by, created_at, the order of chatcore.Room's fields), the fields
// after them (tail: kind, topic) and its member count.
type sharedList struct {
	etag    string
	ids     []int64
	head    [][]byte
	tail    [][]byte
	members []int64
	index   map[int64]int
	size    int
}

// roomListCache keeps the last sharedList (one stored part is current at
// a time; a second one only while an old entry is still served).
type roomListCache struct {
	mu   sync.Mutex
	last [2]*sharedList
}

func (l *roomListCache) get(stored []byte, etag string) (*sharedList, error) {
	l.mu.Lock()
	for _, s := range l.last {
		if s != nil && etag != "" && s.etag == etag {
			l.mu.Unlock()
			return s, nil
		}
	}
	l.mu.Unlock()
	s, err := decodeSharedList(stored)
	if err != nil || etag == "" {
		return s, err
	}
	s.etag = etag
	l.mu.Lock()
	l.last[1], l.last[0] = l.last[0], s
	l.mu.Unlock()
	return s, nil
}

func decodeSharedList(stored []byte) (*sharedList, error) {
	var list struct {
		Rooms []chatcore.Room `json:"rooms"`
	}
	if err := json.Unmarshal(stored, &list); err != nil {
		return nil, err
	}
	rooms := list.Rooms
	slices.SortFunc(rooms, func(a, b chatcore.Room) int { return cmp.Compare(a.ID, b.ID) })
	s := &sharedList{ids: make([]int64, len(rooms)), head: make([][]byte, len(rooms)), tail: make([][]byte, len(rooms)),
		members: make([]int64, len(rooms)), index: make(map[int64]int, len(rooms))}
	for i := range rooms {
		enc, err := json.Marshal(rooms[i])
		if err != nil {
			return nil, err
		}
		// A string value's quotes are escaped, so the first
		// ,"last_seq": is the field.
		cut := bytes.Index(enc, []byte(`,"last_seq":`))
		if cut < 0 {
			return nil, errors.New("gateway: room list: no last_seq in a room")
		}
		// The fields after the per-answer ones (kind, topic: they come
		// last in chatcore.Room) are stored too; the first ,"kind": past
		// the counters is the field, for the same reason.
		k := bytes.Index(enc[cut:], []byte(`,"kind":`))
		if k < 0 {
			return nil, errors.New("gateway: room list: no kind in a room")
		}
		tail := enc[cut+k : len(enc)-1]
		s.ids[i], s.head[i], s.tail[i], s.members[i] = rooms[i].ID, enc[:cut], tail, rooms[i].MemberCount
		s.index[rooms[i].ID] = i
		s.size += cut + len(tail) + 120
	}
	return s, nil
}

// ComposeRoom fills the counters of a stored room info (GET /api/rooms/{id}).
func (c *Core) ComposeRoom(ctx context.Context, stored []byte) ([]byte, error) {
	var room chatcore.Room
	if err := json.Unmarshal(stored, &room); err != nil {
		return nil, err
	}
	rooms := []chatcore.Room{room}
	if err := c.fillCounters(ctx, rooms); err != nil {
		return nil, err
	}
	return encodeJSON(rooms[0])
}

func (c *Core) fillCounters(ctx context.Context, rooms []chatcore.Room) error {
	ids := make([]int64, len(rooms))
	for i := range rooms {
		ids[i] = rooms[i].ID
	}
	seqs, err := c.lastSeqs(ctx, ids)
	if err != nil {
		return err
	}
	for i := range rooms {
		n := seqs[rooms[i].ID]
		rooms[i].LastSeq, rooms[i].MessageCount = n, n
	}
	return nil
}

// encodeJSON encodes as writeJSON does (a trailing newline).
func encodeJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := json.NewEncoder(&b).Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
