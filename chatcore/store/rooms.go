package store

import (
	"context"

	"github.com/chatgate/chatgate/chatcore"
	"github.com/jackc/pgx/v5"
)

const roomCols = "r.id, r.name, r.is_private, r.kind, r.topic, COALESCE(r.created_by, 0), r.created_at, r.last_seq, r.member_count, r.event_count"

// scanRoom scans roomCols plus any extra destinations. MessageCount is
// last_seq less the room's events (migration 0009): messages are never
// hard-deleted, so that is the count.
func scanRoom(row pgx.Row, extra ...any) (chatcore.Room, error) {
	var r chatcore.Room
	var events int64
	dest := append([]any{&r.ID, &r.Name, &r.IsPrivate, &r.Kind, &r.Topic, &r.CreatedBy, &r.CreatedAt, &r.LastSeq, &r.MemberCount, &events}, extra...)
	err := row.Scan(dest...)
	r.CreatedAt = r.CreatedAt.UTC()
	r.MessageCount = r.LastSeq - events
	return r, err
}

// CreateRoom creates a room whose creator is its owner and only member. Room
// and membership are written by one statement, hence one transaction. An
// unknown creator returns chatcore.ErrNotFound.
func (s *Store) CreateRoom(ctx context.Context, creator int64, name string, private bool) (chatcore.Room, error) {
	var room chatcore.Room
	err := s.run(ctx, "create_room", func(ctx context.Context) (n int, err error) {
		// The room_users FK check runs at the end of the statement, when the
		// new room row is visible.
		room, err = scanRoom(s.pool.QueryRow(ctx, `
			WITH r AS (
				INSERT INTO rooms (name, is_private, created_by, member_count)
				VALUES ($1, $2, $3, 1)
				RETURNING *
			), m AS (
				INSERT INTO room_users (room_id, user_id, role, joined_at)
				SELECT id, $3, $4, created_at FROM r
			)
			SELECT `+roomCols+` FROM r`, name, private, creator, chatcore.RoleOwner))
		return 1, err
	})
	room.Joined = err == nil
	return room, err
}

// RoomByID returns a room with its counters. Joined and LastReadSeq are not
// filled (no caller is known); chatcore.ErrNotFound when there is no room.
func (s *Store) RoomByID(ctx context.Context, id int64) (chatcore.Room, error) {
	var room chatcore.Room
	err := s.run(ctx, "room_by_id", func(ctx context.Context) (n int, err error) {
		room, err = scanRoom(s.pool.QueryRow(ctx, "SELECT "+roomCols+" FROM rooms r WHERE r.id = $1", id))
		return 1, err
	})
	return room, err
}

// PublicRooms returns every public room in id order: the part of the room
// list that is the same for everyone (the response cache stores it once).
// Its counters are left at 0: they move with every message and are filled
// per answer.
func (s *Store) PublicRooms(ctx context.Context) ([]chatcore.Room, error) {
	var out []chatcore.Room
	err := s.run(ctx, "public_rooms", func(ctx context.Context) (int, error) {
		rows, err := s.pool.Query(ctx, "SELECT "+roomCols+" FROM rooms r WHERE NOT r.is_private ORDER BY r.id")
		if err != nil {
			return 0, err
		}
		defer rows.Close()
		for rows.Next() {
			room, err := scanRoom(rows)
			if err != nil {
				return len(out), err
			}
			room.LastSeq, room.MessageCount = 0, 0
			out = append(out, room)
		}
		return len(out), rows.Err()
	})
	return out, err
}

// RoomRead is one membership of a user: the room and the user's read
// marker in it.
type RoomRead struct {
	Room     int64 `json:"r"`
	LastRead int64 `json:"l"`
	Mentions int64 `json:"m,omitempty"` // the user's mentions above LastRead
	// ReadEvents is the room's events at or below LastRead: the messages
	// read are LastRead - ReadEvents (chatcore.UnreadMessages).
	ReadEvents int64 `json:"e,omitempty"`
}

// UserRooms returns the rooms userID belongs to, with its read markers, in
// room order: the per-user part of the room list.
func (s *Store) UserRooms(ctx context.Context, userID int64) ([]RoomRead, error) {
	out := []RoomRead{}
	err := s.run(ctx, "user_rooms", func(ctx context.Context) (int, error) {
		rows, err := s.pool.Query(ctx, `
			SELECT ru.room_id, ru.last_read_seq, `+sqlUnreadMentions+`, ru.read_events
			FROM room_users ru
			WHERE ru.user_id = $1 ORDER BY ru.room_id`, userID)
		if err != nil {
			return 0, err
		}
		defer rows.Close()
		for rows.Next() {
			var m RoomRead
			if err := rows.Scan(&m.Room, &m.LastRead, &m.Mentions, &m.ReadEvents); err != nil {
				return len(out), err
			}
			out = append(out, m)
		}
		return len(out), rows.Err()
	})
	return out, err
}

// Counters are what moves in a room with every post and room event.
type Counters struct {
	Seq    int64 `json:"s"`           // last_seq: the last assigned seq
	Events int64 `json:"e,omitempty"` // event_count: seqs taken by room events
}

// Messages is the room's messages: the seqs not taken by events.
func (c Counters) Messages() int64 { return c.Seq - c.Events }

// RoomCounters returns the counters of each existing room of ids, in one
// query (rooms that do not exist are absent).
func (s *Store) RoomCounters(ctx context.Context, ids []int64) (map[int64]Counters, error) {
	out := make(map[int64]Counters, len(ids))
	err := s.run(ctx, "room_counters", func(ctx context.Context) (int, error) {
		rows, err := s.pool.Query(ctx, "SELECT id, last_seq, event_count FROM rooms WHERE id = ANY($1)", ids)
		if err != nil {
			return 0, err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			var n Counters
			if err := rows.Scan(&id, &n.Seq, &n.Events); err != nil {
				return len(out), err
			}
			out[id] = n
		}
		return len(out), rows.Err()
	})
	return out, err
}

// ListRooms returns, in id order, every public room plus the private rooms
// userID belongs to, with Joined and LastReadSeq relative to userID, in one
// query.
func (s *Store) ListRooms(ctx context.Context, userID int64) ([]chatcore.Room, error) {
	var out []chatcore.Room
	err := s.run(ctx, "list_rooms", func(ctx context.Context) (int, error) {
		rows, err := s.pool.Query(ctx, `
			SELECT `+roomCols+`, ru.user_id IS NOT NULL, COALESCE(ru.last_read_seq, 0),
			       CASE WHEN ru.user_id IS NULL THEN 0 ELSE `+sqlUnreadMentions+` END, COALESCE(ru.read_events, 0)
			FROM rooms r
			LEFT JOIN room_users ru ON ru.room_id = r.id AND ru.user_id = $1
			WHERE NOT r.is_private OR ru.user_id IS NOT NULL
			ORDER BY r.id`, userID)
		if err != nil {
			return 0, err
		}
		defer rows.Close()
		for rows.Next() {
			var joined bool
			var lastRead, mentions, readEvents int64
			room, err := scanRoom(rows, &joined, &lastRead, &mentions, &readEvents)
			if err != nil {
				return len(out), err
			}
			room.Joined, room.LastReadSeq, room.UnreadMentions = joined, lastRead, mentions
			if joined {
				room.Unread = chatcore.UnreadMessages(room.MessageCount, lastRead, readEvents)
			}
			out = append(out, room)
		}
		return len(out), rows.Err()
	})
	return out, err
}

// Join adds userID to roomID with role. It is idempotent: an existing
// membership returns (false, nil) and leaves role and member_count alone.
// member_count is bumped by the same statement (one transaction) only when a
// row was inserted; the rooms row lock serializes concurrent joins. An unknown
// room (or user) returns chatcore.ErrNotFound via the foreign key. The new
// member's read marker starts at the room's last seq: what was said before
// they joined is history, not unread.
func (s *Store) Join(ctx context.Context, roomID, userID int64, role string) (bool, error) {
	if role == "" {
		role = chatcore.RoleMember
	}
	var joined bool
	err := s.run(ctx, "join_room", func(ctx context.Context) (int, error) {
		return 1, s.pool.QueryRow(ctx, `
			WITH ins AS (
				INSERT INTO room_users (room_id, user_id, role, last_read_seq, read_events)
				VALUES ($1, $2, $3,
					COALESCE((SELECT last_seq FROM rooms WHERE id = $1), 0),
					COALESCE((SELECT event_count FROM rooms WHERE id = $1), 0))
				ON CONFLICT (room_id, user_id) DO NOTHING
				RETURNING 1
			), upd AS (
				UPDATE rooms SET member_count = member_count + 1
				WHERE id = $1 AND EXISTS (SELECT 1 FROM ins)
			)
			SELECT EXISTS (SELECT 1 FROM ins)`, roomID, userID, role).Scan(&joined)
	})
	return joined, err
}

// Leave removes userID from roomID; (false, nil) when it was not a member,
// chatcore.ErrNotFound when the room does not exist. member_count is
// decremented by the same statement only when a row was deleted. An owner
// who leaves hands the room to the longest-standing other member (earliest
// joined_at, then lowest id), in the same statement, so a room with
// members always has someone who can administer it.
func (s *Store) Leave(ctx context.Context, roomID, userID int64) (bool, error) {
	var left, exists bool
	err := s.run(ctx, "leave_room", func(ctx context.Context) (int, error) {
		return 1, s.pool.QueryRow(ctx, `
			WITH del AS (
				DELETE FROM room_users WHERE room_id = $1 AND user_id = $2
				RETURNING role
			), upd AS (
				UPDATE rooms SET member_count = member_count - 1
				WHERE id = $1 AND EXISTS (SELECT 1 FROM del)
			), heir AS (
				UPDATE room_users SET role = $3
				WHERE room_id = $1 AND user_id = (
					SELECT user_id FROM room_users
					WHERE room_id = $1 AND user_id <> $2
					ORDER BY joined_at, user_id LIMIT 1)
				AND EXISTS (SELECT 1 FROM del WHERE role = $3)
			)
			SELECT EXISTS (SELECT 1 FROM del), EXISTS (SELECT 1 FROM rooms WHERE id = $1)`,
			roomID, userID, chatcore.RoleOwner).Scan(&left, &exists)
	})
	if err == nil && !exists {
		err = wrapErr("leave_room", ctx, pgx.ErrNoRows)
	}
	return left, err
}

// IsMember reports whether userID belongs to roomID.
func (s *Store) IsMember(ctx context.Context, roomID, userID int64) (bool, error) {
	var ok bool
	err := s.run(ctx, "is_member", func(ctx context.Context) (int, error) {
		return 1, s.pool.QueryRow(ctx,
			"SELECT EXISTS (SELECT 1 FROM room_users WHERE room_id = $1 AND user_id = $2)",
			roomID, userID).Scan(&ok)
	})
	return ok, err
}

// Members lists a room's members in join order (ties by user id) with one
// JOIN. An unknown room yields an empty list.
func (s *Store) Members(ctx context.Context, roomID int64) ([]chatcore.Member, error) {
	out := []chatcore.Member{}
	err := s.run(ctx, "room_members", func(ctx context.Context) (int, error) {
		rows, err := s.pool.Query(ctx, `
			SELECT u.id, u.name, ru.role
			FROM room_users ru JOIN users u ON u.id = ru.user_id
			WHERE ru.room_id = $1
			ORDER BY ru.joined_at, u.id`, roomID)
		if err != nil {
			return 0, err
		}
		defer rows.Close()
		for rows.Next() {
			var m chatcore.Member
			if err := rows.Scan(&m.ID, &m.Name, &m.Role); err != nil {
				return len(out), err
			}
			out = append(out, m)
		}
		return len(out), rows.Err()
	})
	return out, err
}

// MarkRead moves userID's read marker in roomID forward to seq (never
// back; a seq past the room's last seq stores the last seq, so the marker
// never covers seqs not yet committed), and read_events, the room's events
// at or below it, forward by the events it passes: a primary-key range
// scan of the seqs between the old marker and the new one, so each stored
// row is counted at most once per member over the member's whole life (a
// member starts at the room's last seq: Join). chatcore.ErrNotFound when
// userID is not a member.
func (s *Store) MarkRead(ctx context.Context, roomID, userID, seq int64) error {
	return s.run(ctx, "mark_read", func(ctx context.Context) (int, error) {
		tag, err := s.pool.Exec(ctx, `
			UPDATE room_users ru SET
				last_read_seq = GREATEST(ru.last_read_seq, LEAST($3, r.last_seq)),
				read_events = ru.read_events + (SELECT count(*) FROM messages m
					WHERE m.room_id = $1 AND m.seq > ru.last_read_seq AND m.seq <= LEAST($3, r.last_seq) AND m.kind <> 0)
			FROM rooms r
			WHERE ru.room_id = $1 AND ru.user_id = $2 AND r.id = $1`, roomID, userID, seq)
		if err == nil && tag.RowsAffected() == 0 {
			err = pgx.ErrNoRows
		}
		return int(tag.RowsAffected()), err
	})
}

// LastSeq returns the room's last assigned message seq (0 for an empty room);
// chatcore.ErrNotFound when there is no room.
func (s *Store) LastSeq(ctx context.Context, roomID int64) (int64, error) {
	var seq int64
	err := s.run(ctx, "last_seq", func(ctx context.Context) (int, error) {
		return 1, s.pool.QueryRow(ctx, "SELECT last_seq FROM rooms WHERE id = $1", roomID).Scan(&seq)
	})
	return seq, err
}

// Memberships returns which of the (room, user) pairs are memberships now,
// in one query: an instance re-checks its live subscriptions with it.
func (s *Store) Memberships(ctx context.Context, pairs [][2]int64) (map[[2]int64]bool, error) {
	out := make(map[[2]int64]bool, len(pairs))
	if len(pairs) == 0 {
		return out, nil
	}
	rooms, users := make([]int64, len(pairs)), make([]int64, len(pairs))
	for i, p := range pairs {
		rooms[i], users[i] = p[0], p[1]
	}
	err := s.run(ctx, "memberships", func(ctx context.Context) (int, error) {
		rows, err := s.pool.Query(ctx, `
			SELECT p.r, p.u FROM unnest($1::bigint[], $2::bigint[]) AS p(r, u)
			WHERE EXISTS (SELECT 1 FROM room_users WHERE room_id = p.r AND user_id = p.u)`, rooms, users)
		if err != nil {
			return 0, err
		}
		defer rows.Close()
		for rows.Next() {
			var p [2]int64
			if err := rows.Scan(&p[0], &p[1]); err != nil {
				return len(out), err
			}
			out[p] = true
		}
		return len(out), rows.Err()
	})
	return out, err
}

// Role returns userID's role in roomID; chatcore.ErrNotFound when userID is
// not a member (or there is no such room).
func (s *Store) Role(ctx context.Context, roomID, userID int64) (string, error) {
	var role string
	err := s.run(ctx, "member_role", func(ctx context.Context) (int, error) {
		return 1, s.pool.QueryRow(ctx,
			"SELECT role FROM room_users WHERE room_id = $1 AND user_id = $2", roomID, userID).Scan(&role)
	})
	return role, err
}
