package gateway

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	"github.com/chatgate/chatgate/chatcore"
	"github.com/chatgate/chatgate/chatcore/store"
)

// warmMembersCap bounds the members warmed per room: a huge public room's
// member list would cost more than it saves.
const warmMembersCap = 2000

// warmUp fills the caches with the n most active public rooms (by last
// seq), their memberships and their members' profiles. Each loader queries
// after the cache has read its generations, so a write during warm-up can
// not leave a stale entry. Queries: one room list, then per room one member
// list, and one batch of profiles.
func (k *caching) warmUp(ctx context.Context, n int) (int, error) {
	st := k.core.Store
	all, err := st.ListRooms(ctx, 0)
	if err != nil {
		return 0, fmt.Errorf("gateway: warm-up: list rooms: %w", err)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].LastSeq > all[j].LastSeq })
	if len(all) > n {
		all = all[:n]
	}
	ids := make([]string, len(all))
	for i, r := range all {
		ids[i] = idKey(r.ID)
	}
	// Rooms and counts: one query for all of them, run by the loader.
	fresh := func(ctx context.Context) (map[string]chatcore.Room, error) {
		rooms, err := st.ListRooms(ctx, 0)
		if err != nil {
			return nil, err
		}
		out := make(map[string]chatcore.Room, len(rooms))
		for _, r := range rooms {
			r.Joined, r.LastReadSeq = false, 0
			out[idKey(r.ID)] = r
		}
		return out, nil
	}
	if _, err := k.rooms.GetMany(ctx, ids, func(ctx context.Context, want []string) (map[string]chatcore.Room, error) {
		return pick(fresh(ctx))(want)
	}); err != nil {
		return 0, fmt.Errorf("gateway: warm-up: rooms: %w", err)
	}
	if _, err := k.counts.GetMany(ctx, ids, func(ctx context.Context, want []string) (map[string]store.Counters, error) {
		rooms, err := pick(fresh(ctx))(want)
		out := make(map[string]store.Counters, len(rooms))
		for id, r := range rooms {
			// MessageCount is last_seq less the room's events.
			out[id] = store.Counters{Seq: r.LastSeq, Events: r.LastSeq - r.MessageCount}
		}
		return out, err
	}); err != nil {
		return 0, fmt.Errorf("gateway: warm-up: counts: %w", err)
	}
	users := make(map[int64]bool)
	for _, r := range all {
		if ctx.Err() != nil {
			return 0, fmt.Errorf("gateway: warm-up: %w", ctx.Err())
		}
		if err := k.warmRoomMembers(ctx, r.ID, users); err != nil {
			return 0, err
		}
	}
	uids := make([]string, 0, len(users))
	for u := range users {
		uids = append(uids, idKey(u))
	}
	if _, err := k.users.GetMany(ctx, uids, func(ctx context.Context, want []string) (map[string]chatcore.User, error) {
		ids := make([]int64, 0, len(want))
		for _, w := range want {
			if id, err := strconv.ParseInt(w, 10, 64); err == nil {
				ids = append(ids, id)
			}
		}
		found, err := st.UsersByID(ctx, ids)
		out := make(map[string]chatcore.User, len(found))
		for id, u := range found {
			out[idKey(id)] = chatcore.User{ID: u.ID, Name: u.Name, Email: u.Email, CreatedAt: u.CreatedAt}
		}
		return out, err
	}); err != nil {
		return 0, fmt.Errorf("gateway: warm-up: users: %w", err)
	}
	return len(all), nil
}

func (k *caching) warmRoomMembers(ctx context.Context, room int64, users map[int64]bool) error {
	st := k.core.Store
	ms, err := st.Members(ctx, room)
	if err != nil {
		return fmt.Errorf("gateway: warm-up: members of %d: %w", room, err)
	}
	if len(ms) > warmMembersCap {
		ms = ms[:warmMembersCap]
	}
	keys := make([]string, len(ms))
	for i, m := range ms {
		keys[i] = memberKey(room, m.ID)
		users[m.ID] = true
	}
	_, err = k.members.GetMany(ctx, keys, func(ctx context.Context, want []string) (map[string]bool, error) {
		// Re-read after the generations were taken; someone who left in
		// between is simply not cached.
		now, err := st.Members(ctx, room)
		if err != nil {
			return nil, err
		}
		in := make(map[string]bool, len(now))
		for _, m := range now {
			in[memberKey(room, m.ID)] = true
		}
		out := make(map[string]bool, len(want))
		for _, w := range want {
			if in[w] {
				out[w] = true
			}
		}
		return out, nil
	})
	if err != nil {
		return fmt.Errorf("gateway: warm-up: memberships of %d: %w", room, err)
	}
	return nil
}

// pick restricts a loaded map to the wanted ids.
func pick[V any](all map[string]V, err error) func(want []string) (map[string]V, error) {
	return func(want []string) (map[string]V, error) {
		if err != nil {
			return nil, err
		}
		out := make(map[string]V, len(want))
		for _, w := range want {
			if v, ok := all[w]; ok {
				out[w] = v
			}
		}
		return out, nil
	}
}
