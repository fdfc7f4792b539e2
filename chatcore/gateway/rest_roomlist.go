package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"

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
// rooms, {"rooms":[...]}): it marks the rooms user belongs to (joined, the
// read marker), adds the private ones (from the room cache; a private room
// is only ever added from the user's own memberships) and fills every
// room's counters. It returns the list and its ETag (empty: the cache
// computes it).
func (c *Core) ComposeRoomList(ctx context.Context, user int64, stored []byte, _ string) ([]byte, string, error) {
	body, err := c.composeRoomList(ctx, user, stored)
	return body, "", err
}

func (c *Core) composeRoomList(ctx context.Context, user int64, stored []byte) ([]byte, error) {
	var list struct {
		Rooms []chatcore.Room `json:"rooms"`
	}
	if err := json.Unmarshal(stored, &list); err != nil {
		return nil, err
	}
	mine, err := c.cachedUserRooms(ctx, user)
	if err != nil {
		return nil, err
	}
	read := make(map[int64]int64, len(mine))
	for _, m := range mine {
		read[m.Room] = m.LastRead
	}
	rooms := list.Rooms[:len(list.Rooms):len(list.Rooms)]
	have := make(map[int64]bool, len(rooms))
	for i := range rooms {
		r := &rooms[i]
		have[r.ID] = true
		r.LastReadSeq, r.Joined = read[r.ID]
		if !r.Joined {
			r.LastReadSeq = 0
		}
	}
	for _, m := range mine {
		if have[m.Room] {
			continue
		}
		room, err := c.cachedRoom(ctx, m.Room)
		if err != nil {
			if errors.Is(err, chatcore.ErrNotFound) {
				continue // deleted since
			}
			return nil, err
		}
		room.Joined, room.LastReadSeq = true, m.LastRead
		rooms = append(rooms, room)
	}
	slices.SortFunc(rooms, func(a, b chatcore.Room) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	if err := c.fillCounters(ctx, rooms); err != nil {
		return nil, err
	}
	return encodeJSON(map[string]any{"rooms": rooms})
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
