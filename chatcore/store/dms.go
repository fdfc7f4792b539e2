package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/chatgate/chatgate/chatcore"
	"github.com/jackc/pgx/v5"
)

// dmKey is the pair key of a direct message: the same for (a, b) and (b, a).
func dmKey(a, b int64) string {
	if a > b {
		a, b = b, a
	}
	return fmt.Sprintf("%d:%d", a, b)
}

// OpenDM returns the direct message of users a and b, creating it (a
// private room of kind dm, both members, no owner) when there is none;
// created tells which. The unique index on rooms.dm_key makes it one room
// however many requests, from either side and on any instance, ask at
// once: an insert that loses the race does nothing and the winner's row is
// read by the next statement (read committed: it sees the winner's
// commit). name is stored as the room's name. An unknown user is
// chatcore.ErrNotFound (the room_users foreign key).
func (s *Store) OpenDM(ctx context.Context, a, b int64, name string) (room chatcore.Room, created bool, err error) {
	key := dmKey(a, b)
	err = s.run(ctx, "open_dm", func(ctx context.Context) (int, error) {
		// DMs are never deleted, so the loop ends on its second round at
		// the latest; the bound guards against a bug, not a race.
		for range 3 {
			room, err = scanRoom(s.pool.QueryRow(ctx, `
				WITH r AS (
					INSERT INTO rooms (name, is_private, kind, dm_key, created_by, member_count)
					VALUES ($1, true, 'dm', $2, $3, 2)
					ON CONFLICT (dm_key) DO NOTHING
					RETURNING *
				), m AS (
					INSERT INTO room_users (room_id, user_id, role, joined_at)
					SELECT r.id, u, 'member', r.created_at FROM r, unnest($4::bigint[]) AS u
				)
				SELECT `+roomCols+` FROM r`, name, key, a, []int64{a, b}))
			if err == nil {
				created = true
				return 1, nil
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return 0, err
			}
			room, err = scanRoom(s.pool.QueryRow(ctx, "SELECT "+roomCols+" FROM rooms r WHERE r.dm_key = $1", key))
			if !errors.Is(err, pgx.ErrNoRows) {
				return 1, err
			}
		}
		return 0, fmt.Errorf("direct message %s: neither created nor found", key)
	})
	room.Joined = err == nil
	return room, created, err
}

// DM is one of a user's direct messages: the room and the other member.
type DM struct {
	Room      int64            `json:"room"`
	Peer      chatcore.UserRef `json:"peer"`
	CreatedAt string           `json:"created_at"`
}

// DMs lists userID's direct messages with the other member of each, in
// room order (oldest first).
func (s *Store) DMs(ctx context.Context, userID int64) ([]DM, error) {
	out := []DM{}
	err := s.run(ctx, "list_dms", func(ctx context.Context) (int, error) {
		rows, err := s.pool.Query(ctx, `
			SELECT r.id, u.id, u.name, to_char(r.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
			FROM room_users me
			JOIN rooms r ON r.id = me.room_id AND r.kind = 'dm'
			JOIN room_users o ON o.room_id = r.id AND o.user_id <> me.user_id
			JOIN users u ON u.id = o.user_id
			WHERE me.user_id = $1
			ORDER BY r.id`, userID)
		if err != nil {
			return 0, err
		}
		defer rows.Close()
		for rows.Next() {
			var d DM
			if err := rows.Scan(&d.Room, &d.Peer.ID, &d.Peer.Name, &d.CreatedAt); err != nil {
				return len(out), err
			}
			out = append(out, d)
		}
		return len(out), rows.Err()
	})
	return out, err
}
