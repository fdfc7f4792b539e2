package store

import (
	"context"
	"errors"

	"github.com/chatgate/chatgate/chatcore"
	"github.com/jackc/pgx/v5"
)

// UpdateRoom sets the name and/or topic (nil: unchanged) of roomID if
// owner is its owner, in one statement (the role is checked by the same
// statement that writes, so an ownership handed over meanwhile is seen).
// chatcore.ErrForbidden when there is no such room or owner is not its
// owner; the caller tells those apart.
func (s *Store) UpdateRoom(ctx context.Context, roomID, owner int64, name, topic *string) (chatcore.Room, error) {
	var room chatcore.Room
	err := s.run(ctx, "update_room", func(ctx context.Context) (int, error) {
		var err error
		room, err = scanRoom(s.pool.QueryRow(ctx, `
			UPDATE rooms r SET name = COALESCE($3, r.name), topic = COALESCE($4, r.topic)
			WHERE r.id = $1 AND EXISTS (
				SELECT 1 FROM room_users WHERE room_id = $1 AND user_id = $2 AND role = $5)
			RETURNING `+roomCols, roomID, owner, name, topic, chatcore.RoleOwner))
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, chatcore.ErrForbidden
		}
		return 1, err
	})
	return room, err
}

// DeleteRoom deletes roomID with its memberships, messages, reactions,
// mentions and files if owner is its owner, in one transaction, and returns
// who were its members (their subscriptions and caches are to end) and the
// storage keys of its files (their bytes are the caller's to delete: rows
// first, then bytes, like the sweep). The room row is locked first, so a
// join, invitation or message flush waits and then finds no room (a flush
// answers its sends not_found). chatcore.ErrForbidden when there is no such
// room or owner is not its owner.
func (s *Store) DeleteRoom(ctx context.Context, roomID, owner int64) (members []int64, fileKeys []string, err error) {
	err = s.run(ctx, "delete_room", func(ctx context.Context) (int, error) {
		members, fileKeys = nil, nil
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			var ok bool
			err := tx.QueryRow(ctx, `
				SELECT EXISTS (SELECT 1 FROM room_users WHERE room_id = $1 AND user_id = $2 AND role = $3)
				FROM rooms WHERE id = $1 FOR UPDATE`, roomID, owner, chatcore.RoleOwner).Scan(&ok)
			if errors.Is(err, pgx.ErrNoRows) || err == nil && !ok {
				return chatcore.ErrForbidden
			}
			if err != nil {
				return err
			}
			rows, err := tx.Query(ctx, "SELECT user_id FROM room_users WHERE room_id = $1", roomID)
			if err != nil {
				return err
			}
			members, err = pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil {
				return err
			}
			rows, err = tx.Query(ctx, "DELETE FROM files WHERE room_id = $1 RETURNING storage_key", roomID)
			if err != nil {
				return err
			}
			if fileKeys, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
				return err
			}
			// Reactions and mentions have no foreign key (they are written
			// per event and per message, where a trigger would cost).
			for _, q := range []string{
				"DELETE FROM message_reactions WHERE room_id = $1",
				"DELETE FROM mentions WHERE room_id = $1",
				"DELETE FROM messages WHERE room_id = $1",
				"DELETE FROM rooms WHERE id = $1",
			} {
				if _, err := tx.Exec(ctx, q, roomID); err != nil {
					return err
				}
			}
			return nil
		})
		return len(members), err
	})
	return members, fileKeys, err
}
