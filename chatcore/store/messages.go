package store

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/chatgate/chatgate/chatcore"
)

// All history reads are keyset scans of the messages primary key
// (room_id, seq): "room_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT n" walks
// the index backwards from the cursor and touches n rows at any depth, which
// OFFSET cannot do (notes/performance.md §7). The author name comes from a
// join on users (a nested-loop PK probe per returned row). Soft-deleted
// messages keep their seq, so readers see no gap, but their body is blanked.
//
// A message comes in its current state (migration 0005): edited_at,
// deleted, and its reactions aggregated per emoji (users oldest first),
// with rev, the seq of the last event that state shows. The reactions are
// read in the same statement, so they are exactly rev's state, and only for
// messages some event touched (rev set): a plain message costs nothing more.
// Events (kind > 0) come as stored, between the messages: every page is a
// gap-free run of the stream, so a reader never sees a hole in the seqs.
const messageSelect = `
	SELECT m.room_id, m.seq, m.user_id, COALESCE(u.name, ''),
	       CASE WHEN m.deleted_at IS NULL THEN m.body ELSE '' END,
	       COALESCE(m.client_id, ''), m.created_at,
	       m.kind, COALESCE(m.target_seq, 0), COALESCE(m.rev, 0), m.edited_at, m.deleted_at IS NOT NULL,
	       CASE WHEN m.rev IS NOT NULL AND m.kind = 0 AND m.deleted_at IS NULL THEN (
	           SELECT json_agg(json_build_object('emoji', r.emoji, 'users', r.users) ORDER BY r.first, r.emoji)::text
	           FROM (SELECT x.emoji, array_agg(x.user_id ORDER BY x.created_at, x.user_id) AS users, min(x.created_at) AS first
	                 FROM message_reactions x WHERE x.room_id = m.room_id AND x.seq = m.seq GROUP BY x.emoji) r
	       ) END
	FROM messages m LEFT JOIN users u ON u.id = m.user_id
	WHERE m.room_id = $1 `

const (
	sqlHistoryBefore = messageSelect + `AND m.seq < $2 ORDER BY m.seq DESC LIMIT $3`
	sqlHistoryAfter  = messageSelect + `AND m.seq > $2 ORDER BY m.seq ASC LIMIT $3`
	sqlRange         = messageSelect + `AND m.seq BETWEEN $2 AND $3 ORDER BY m.seq ASC`
)

// maxPage bounds a single History/After page whatever the caller asks for,
// and maxRange a single Range (gap fill).
const (
	maxPage  = 1000
	maxRange = 10000
)

func clampLimit(limit int) int {
	switch {
	case limit <= 0:
		return 50
	case limit > maxPage:
		return maxPage
	}
	return limit
}

// History returns up to limit (default 50, at most 1000) messages with seq < before, newest first; before
// <= 0 means from the newest. hasMore reports whether older messages remain
// (one extra row is fetched to know).
func (s *Store) History(ctx context.Context, roomID, before int64, limit int) ([]chatcore.Message, bool, error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	limit = clampLimit(limit)
	msgs, err := s.messages(ctx, "history_before", sqlHistoryBefore, roomID, before, limit+1)
	if err != nil {
		return nil, false, err
	}
	if len(msgs) > limit {
		return msgs[:limit], true, nil
	}
	return msgs, false, nil
}

// After returns up to limit messages with seq > after, oldest first; hasMore
// reports whether newer messages remain.
func (s *Store) After(ctx context.Context, roomID, after int64, limit int) ([]chatcore.Message, bool, error) {
	if after < 0 {
		after = 0
	}
	limit = clampLimit(limit)
	msgs, err := s.messages(ctx, "history_after", sqlHistoryAfter, roomID, after, limit+1)
	if err != nil {
		return nil, false, err
	}
	if len(msgs) > limit {
		return msgs[:limit], true, nil
	}
	return msgs, false, nil
}

// Range returns the messages with from <= seq <= to in ascending order; the
// hub uses it to fill a gap it detected. Ranges wider than maxRange (10,000)
// are cut to their first maxRange seqs; callers page on from the last seq.
func (s *Store) Range(ctx context.Context, roomID, from, to int64) ([]chatcore.Message, error) {
	if from < 1 {
		from = 1
	}
	if to < from {
		return []chatcore.Message{}, nil
	}
	if to-from >= maxRange {
		to = from + maxRange - 1
	}
	return s.messages(ctx, "history_range", sqlRange, roomID, from, to)
}

func (s *Store) messages(ctx context.Context, name, sql string, roomID, a int64, b any) ([]chatcore.Message, error) {
	out := []chatcore.Message{}
	err := s.run(ctx, name, func(ctx context.Context) (int, error) {
		rows, err := s.pool.Query(ctx, sql, roomID, a, b)
		if err != nil {
			return 0, err
		}
		defer rows.Close()
		for rows.Next() {
			var m chatcore.Message
			var st entryState
			if err := rows.Scan(&m.Room, &m.Seq, &m.User.ID, &m.User.Name, &m.Body, &m.CID, &m.TS,
				&st.kind, &m.Target, &m.Rev, &st.edited, &m.Deleted, &st.reactions); err != nil {
				return len(out), err
			}
			if err := st.apply(&m); err != nil {
				return len(out), err
			}
			out = append(out, m)
		}
		return len(out), rows.Err()
	})
	if err == nil {
		err = s.withFiles(ctx, s.pool, roomID, out)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// entryState is what a stream entry's row adds to chatcore.Message, as
// scanned.
type entryState struct {
	kind      int16
	edited    *time.Time
	reactions *string // JSON, NULL without reactions
}

func (st *entryState) apply(m *chatcore.Message) error {
	m.TS = m.TS.UTC()
	m.Kind = chatcore.Kind(st.kind)
	if st.edited != nil {
		m.EditedAt = st.edited.UTC()
	}
	if st.reactions != nil {
		if err := json.Unmarshal([]byte(*st.reactions), &m.Reactions); err != nil {
			return fmt.Errorf("reactions of %d/%d: %w", m.Room, m.Seq, err)
		}
	}
	return nil
}
