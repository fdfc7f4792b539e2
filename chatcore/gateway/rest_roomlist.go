package gateway

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chatgate/chatgate/chatcore"
	"github.com/chatgate/chatgate/chatcore/store"
)

// The room list and room info are answered by the response cache in two
// parts (README.md, "API reads come from cache"):
//
//   - the stored part, the same for everyone who may see it: the public
//     rooms (GET /api/rooms, one entry for every user, tag rooms:list), a
//     room's info for its members (GET /api/rooms/{id}, tag members:R);
//     only room creations and membership changes drop them;
//   - composed in per answer: the counters (last_seq, message_count, from
//     the counters entity cache, which every post and room event drops)
//     and, in the list, the caller's own part (joined, last_read_seq,
//     unread_mentions, unread and the private rooms the caller belongs to,
//     from the user_rooms entity cache, which the caller's joins, leaves,
//     removals, creations, mentions and read markers drop).
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
// The public rooms with their counters, as a non-member sees them, are a
// snapshot shared by every answer (counterSnapshot): an answer copies each
// room's rendered entry, renders only the user's own rooms, and hashes the
// snapshot's digest with the user's part for the ETag, so a HIT costs a
// copy of the list and no lookup per public room.
func (c *Core) ComposeRoomList(ctx context.Context, user int64, stored []byte, storedETag string) ([]byte, string, error) {
	shared, err := c.caches().roomList.get(stored, storedETag)
	if err != nil {
		return nil, "", err
	}
	snap, err := c.counterSnapshot(ctx, shared)
	if err != nil {
		return nil, "", err
	}
	mine, err := c.cachedUserRooms(ctx, user)
	if err != nil {
		return nil, "", err
	}
	read := make(map[int64]store.RoomRead, len(mine))
	for _, m := range mine {
		read[m.Room] = m
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
		room.Unread = chatcore.UnreadMessages(room.MessageCount, m.LastRead, m.ReadEvents)
		private = append(private, room)
	}
	slices.SortFunc(private, func(a, b chatcore.Room) int { return cmp.Compare(a.ID, b.ID) })
	// The ETag covers what the answer is made of: the snapshot (its digest
	// covers the stored part and every counter) and, in order, each room
	// rendered for this user.
	h := sha256.New()
	h.Write(snap.digest[:])
	var num [8]byte
	b := make([]byte, 0, snap.size+len(private)*256+64)
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
			enc, _ := json.Marshal(private[pi])
			sep()
			b = append(b, enc...)
			h.Write(enc)
		}
	}
	for i, id := range shared.ids {
		addPrivate(id)
		sep()
		m, joined := read[id]
		if !joined {
			b = append(b, snap.entries[i]...)
			continue
		}
		at := len(b)
		b = shared.appendEntry(b, i, snap.counters[i], &m)
		binary.BigEndian.PutUint64(num[:], uint64(i))
		h.Write(num[:])
		h.Write(b[at:])
	}
	addPrivate(math.MaxInt64)
	b = append(b, "]}\n"...)
	return b, `"` + hex.EncodeToString(h.Sum(nil)[:12]) + `"`, nil
}

// counters is the shared list rendered with its rooms' counters for a
// non-member (joined false, no read marker, no mentions), the same for
// every answer while the counters stand.
type counters struct {
	// gen is the counters cache's Generation the counters were read
	// under; built bounds the snapshot's age like the cache's own entries.
	gen   uint64
	built time.Time
	// counters and entries are per room of the shared list, in its order.
	counters []store.Counters
	entries  [][]byte
	size     int
	// digest covers the stored part's ETag and every counter.
	digest [32]byte
}

// counterSnapshot returns shared's counters snapshot, rebuilt when an
// invalidation of a room's counters (a post or room event anywhere in the
// cluster, or a lost bus) has reached this instance since it was taken, when it is as old
// as a cached counter may be, or while the bus is down (then nothing is
// kept: every answer reads the counters, as the entity cache does).
func (c *Core) counterSnapshot(ctx context.Context, shared *sharedList) (*counters, error) {
	k := c.caches()
	healthy := k.bus.Healthy()
	gen := k.counts.Generation()
	if s := shared.snap.Load(); healthy && s != nil && s.gen == gen && time.Since(s.built) < countTTL/2 {
		return s, nil
	}
	built := time.Now()
	got, err := c.roomCounters(ctx, shared.ids)
	if err != nil {
		return nil, err
	}
	prev := shared.snap.Load()
	s := &counters{gen: gen, built: built, counters: make([]store.Counters, len(shared.ids)), entries: make([][]byte, len(shared.ids))}
	h := sha256.New()
	h.Write([]byte(shared.etag))
	var num [8]byte
	for i, id := range shared.ids {
		n := got[id]
		s.counters[i] = n
		if prev != nil && prev.counters[i] == n {
			s.entries[i] = prev.entries[i] // unchanged: the same bytes
		} else {
			s.entries[i] = shared.appendEntry(nil, i, n, nil)
		}
		s.size += len(s.entries[i]) + 1
		binary.BigEndian.PutUint64(num[:], uint64(n.Seq))
		h.Write(num[:])
		binary.BigEndian.PutUint64(num[:], uint64(n.Events))
		h.Write(num[:])
		if shared.etag == "" {
			h.Write(s.entries[i]) // no ETag stands for the stored part
		}
	}
	h.Sum(s.digest[:0])
	if healthy && shared.etag != "" {
		shared.snap.Store(s)
	}
	return s, nil
}

// appendEntry renders room i of the list with its counters and the
// caller's part (mine, nil for a non-member).
func (s *sharedList) appendEntry(b []byte, i int, n store.Counters, mine *store.RoomRead) []byte {
	var m store.RoomRead
	if mine != nil {
		m = *mine
	}
	b = append(b, s.head[i]...)
	b = append(b, `,"last_seq":`...)
	b = strconv.AppendInt(b, n.Seq, 10)
	b = append(b, `,"member_count":`...)
	b = strconv.AppendInt(b, s.members[i], 10)
	b = append(b, `,"message_count":`...)
	b = strconv.AppendInt(b, n.Messages(), 10)
	b = append(b, `,"joined":`...)
	b = strconv.AppendBool(b, mine != nil)
	b = append(b, `,"last_read_seq":`...)
	b = strconv.AppendInt(b, m.LastRead, 10)
	b = append(b, `,"unread_mentions":`...)
	b = strconv.AppendInt(b, m.Mentions, 10)
	b = append(b, `,"unread":`...)
	if mine != nil {
		b = strconv.AppendInt(b, chatcore.UnreadMessages(n.Messages(), m.LastRead, m.ReadEvents), 10)
	} else {
		b = append(b, '0')
	}
	b = append(b, s.tail[i]...)
	return append(b, '}')
}

// sharedList is a stored room list decoded once: per public room, in id
// order, its JSON up to the counters (head: id, name, is_private,
// created_by, created_at, the order of chatcore.Room's fields), the fields
// after them (tail: kind, topic) and its member count; and the counters
// snapshot of its answers.
type sharedList struct {
	etag    string
	ids     []int64
	head    [][]byte
	tail    [][]byte
	members []int64
	index   map[int64]int
	snap    atomic.Pointer[counters]
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
	got, err := c.roomCounters(ctx, ids)
	if err != nil {
		return err
	}
	for i := range rooms {
		n := got[rooms[i].ID]
		rooms[i].LastSeq, rooms[i].MessageCount = n.Seq, n.Messages()
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
