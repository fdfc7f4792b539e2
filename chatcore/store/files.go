package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chatgate/chatgate/chatcore"
)

// codeFileAttach is attach_files' SQLSTATE (migration 0007): a file of the
// flush is not its sender's unattached upload to that room any more.
const codeFileAttach = "CG409"

// ErrFileTaken answers a send whose file another send attached first (or
// the sweep removed) between the gateway's check and the commit.
var ErrFileTaken = fmt.Errorf("store: a file is already attached or gone: %w", chatcore.ErrConflict)

// FileRecord is a files row: the metadata messages carry, plus what only
// the server needs.
type FileRecord struct {
	chatcore.File
	Room    int64
	User    int64
	Key     string // the filestore key
	Seq     int64  // the message it is attached to; 0: not attached; < 0: of a deleted message
	Created time.Time
}

const fileColumns = `id, name, content_type, size, COALESCE(width, 0), COALESCE(height, 0),
	room_id, user_id, storage_key, COALESCE(message_seq, 0), created_at`

func scanFile(row pgx.Row) (FileRecord, error) {
	var f FileRecord
	err := row.Scan(&f.ID, &f.Name, &f.Type, &f.Size, &f.Width, &f.Height, &f.Room, &f.User, &f.Key, &f.Seq, &f.Created)
	f.Created = f.Created.UTC()
	return f, err
}

// CreateFile records an upload whose bytes are stored under f.Key; it fills
// f.ID and f.Created. A room deleted meanwhile is ErrNotFound.
func (s *Store) CreateFile(ctx context.Context, f *FileRecord) error {
	var w, h *int
	if f.Width > 0 && f.Height > 0 {
		w, h = &f.Width, &f.Height
	}
	return s.run(ctx, "file_create", func(ctx context.Context) (int, error) {
		err := s.pool.QueryRow(ctx, `
			INSERT INTO files (room_id, user_id, storage_key, name, content_type, size, width, height)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id, created_at`,
			f.Room, f.User, f.Key, f.Name, f.Type, f.Size, w, h).Scan(&f.ID, &f.Created)
		f.Created = f.Created.UTC()
		return 1, err
	})
}

// FileByID returns one file; ErrNotFound when there is none.
func (s *Store) FileByID(ctx context.Context, id int64) (FileRecord, error) {
	var f FileRecord
	err := s.run(ctx, "file_get", func(ctx context.Context) (int, error) {
		var err error
		f, err = scanFile(s.pool.QueryRow(ctx, `SELECT `+fileColumns+` FROM files WHERE id = $1`, id))
		return 1, err
	})
	return f, err
}

// FilesByID returns the files of ids that exist, in no particular order.
func (s *Store) FilesByID(ctx context.Context, ids []int64) ([]FileRecord, error) {
	var out []FileRecord
	err := s.run(ctx, "files_get", func(ctx context.Context) (int, error) {
		rows, err := s.pool.Query(ctx, `SELECT `+fileColumns+` FROM files WHERE id = ANY($1)`, ids)
		if err != nil {
			return 0, err
		}
		defer rows.Close()
		for rows.Next() {
			f, err := scanFile(rows)
			if err != nil {
				return len(out), err
			}
			out = append(out, f)
		}
		return len(out), rows.Err()
	})
	return out, err
}

// SweepFiles deletes the rows of uploads never attached and created before
// cutoff, and of files whose message was deleted (message_seq negated by
// the delete event, events.go), at most limit of them, and returns their
// storage keys for the caller to delete (a row attached meanwhile is not
// deleted: the DELETE re-checks message_seq on the row it locks).
func (s *Store) SweepFiles(ctx context.Context, cutoff time.Time, limit int) ([]string, error) {
	var keys []string
	err := s.run(ctx, "files_sweep", func(ctx context.Context) (int, error) {
		rows, err := s.pool.Query(ctx, `
			DELETE FROM files WHERE id IN (
				(SELECT id FROM files WHERE message_seq IS NULL AND created_at < $1 ORDER BY created_at LIMIT $2)
				UNION ALL
				(SELECT id FROM files WHERE message_seq < 0 LIMIT $2)
			) AND (message_seq IS NULL OR message_seq < 0)
			RETURNING storage_key`, cutoff, limit)
		if err != nil {
			return 0, err
		}
		defer rows.Close()
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				return len(keys), err
			}
			keys = append(keys, k)
		}
		return len(keys), rows.Err()
	})
	return keys, err
}

// FillFiles fills the Files of msgs, messages of room read without them
// (a duplicate send's answer).
func (s *Store) FillFiles(ctx context.Context, room int64, msgs []chatcore.Message) error {
	return s.withFiles(ctx, s.pool, room, msgs)
}

// withFiles fills the Files of msgs (one room, any order) from one query
// over their seq range, on pool (the primary or the replica the messages
// came from: the files were attached in the messages' own transaction, so
// either has both). One indexed range scan per page read; pages come from
// chat_cache mostly, and a live message carries its files from the send.
func (s *Store) withFiles(ctx context.Context, pool *pgxpool.Pool, room int64, msgs []chatcore.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	lo, hi := msgs[0].Seq, msgs[0].Seq
	for _, m := range msgs {
		lo, hi = min(lo, m.Seq), max(hi, m.Seq)
	}
	return s.run(ctx, "files_of_messages", func(ctx context.Context) (int, error) {
		rows, err := pool.Query(ctx, `
			SELECT message_seq, id, name, content_type, size, COALESCE(width, 0), COALESCE(height, 0)
			FROM files WHERE room_id = $1 AND message_seq BETWEEN $2 AND $3 ORDER BY message_seq, id`, room, lo, hi)
		if err != nil {
			return 0, err
		}
		defer rows.Close()
		at := make(map[int64]int, len(msgs))
		for i := range msgs {
			at[msgs[i].Seq] = i
		}
		n := 0
		for rows.Next() {
			var seq int64
			var f chatcore.File
			if err := rows.Scan(&seq, &f.ID, &f.Name, &f.Type, &f.Size, &f.Width, &f.Height); err != nil {
				return n, err
			}
			n++
			if i, ok := at[seq]; ok {
				msgs[i].Files = append(msgs[i].Files, f)
			}
		}
		return n, rows.Err()
	})
}

// isFileAttach reports whether err is attach_files refusing.
func isFileAttach(err error) bool { return pgCode(err) == codeFileAttach }
