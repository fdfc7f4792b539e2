package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/chatgate/chatgate/chatcore"
)

// Full-text search over messages (issue 15, migration 0006).
//
// Each message row holds its text search configuration (search_config,
// whose column default is the configured language) and the tsvector
// generated from body (search_tsv), under a GIN index.
//
// Results are newest first (created_at, then room, then seq: a total
// order), paged by a keyset cursor. Two plans answer a page; the cheaper
// by a cost model fed with the planner's own estimate of how many messages
// match (EXPLAIN, from the column's statistics):
//
//   - byIndex: the GIN index yields every match on the server; those in
//     the caller's rooms are sorted. Its cost is one heap visit per match,
//     share × all messages: cheap exactly when the query is rare.
//   - byTime: each of the caller's rooms is walked newest first through
//     (room_id, created_at) until it has a match; the page's oldest
//     possible time is then known (the limit-th newest of those first
//     matches: at least limit matches are that new), and each room is
//     walked down to it. Its cost is about (rooms + limit) / share rows:
//     cheap exactly when the query is common. Through the index, a word in
//     half of all messages costs a second here; this way, a millisecond.
//
// Both plans read membership in the same statement (room_users), skip
// deleted messages (deleted_at) and match the current body, so a left room,
// a deletion or an edit takes effect with the next search.

// MaxSearchQuery caps the query text in bytes.
const MaxSearchQuery = 256

// SearchCursor is the position of the last result of a page: the next page
// starts strictly below it in (TS, Room, Seq) order.
type SearchCursor struct {
	TS   time.Time
	Room int64
	Seq  int64
}

// Search is one search request.
type Search struct {
	User   int64
	Text   string
	Room   int64         // 0: every room of User
	Before *SearchCursor // nil: from the newest
	Limit  int
}

// SnippetPart is a piece of a highlighted snippet; Match marks the words
// the query matched. The parts are plain text, to be escaped by whoever
// renders them.
type SnippetPart struct {
	Text  string `json:"text"`
	Match bool   `json:"match,omitempty"`
}

// SearchHit is one result: the message and a snippet of it around the
// matches.
type SearchHit struct {
	Msg     chatcore.Message
	Snippet []SnippetPart
}

// Errors of a query that cannot be searched; the gateway answers them 400.
var (
	ErrSearchNoWords     = errors.New("the query has no words to search for (only stop words or punctuation)")
	ErrSearchOnlyNegated = errors.New("the query needs a word that is not excluded with -")
)

// The highlight markers: SOH and STX. Bodies may contain them, so they are
// replaced by U+FFFD in the text ts_headline sees.
const (
	markStart = "\x01"
	markStop  = "\x02"
)

const headlineSelect = `
	SELECT h.room_id, h.seq, h.user_id, COALESCE(u.name, ''), h.body, COALESCE(h.client_id, ''), h.created_at,
	       ts_headline(h.search_config, translate(h.body, chr(1) || chr(2), chr(65533) || chr(65533)),
	                   websearch_to_tsquery(h.search_config, $8),
	                   'StartSel=' || chr(1) || ', StopSel=' || chr(2) ||
	                   ', MaxWords=24, MinWords=8, MaxFragments=2, FragmentDelimiter=" … "')
	FROM (%s) h LEFT JOIN users u ON u.id = h.user_id
	ORDER BY h.created_at DESC, h.room_id DESC, h.seq DESC`

// Parameters of both plans: $1 user, $2 tsquery, $3 room filter (0: none),
// $4..$6 the cursor ($4 NULL: none), $7 limit (one more than the page),
// $8 the query text (for the snippets).
const (
	searchCols  = `m.room_id, m.seq, m.user_id, m.body, m.client_id, m.created_at, m.search_config`
	searchRooms = `SELECT ru.room_id FROM room_users ru WHERE ru.user_id = $1 AND ($3 = 0 OR ru.room_id = $3)`
	// kind = 0: messages only. Room events are rows of messages too
	// (events.go); an edit's row repeats the new text its target now
	// holds, a reaction's row holds its emoji.
	searchAlive = `m.kind = 0 AND m.deleted_at IS NULL
		AND ($4::timestamptz IS NULL OR (m.created_at, m.room_id, m.seq) < ($4::timestamptz, $5, $6))`
	// room_id + 0: the rooms are a hash filter on the GIN index's matches;
	// on room_id itself the planner probes the index once per room (a
	// BitmapAnd with (room_id, created_at)), reading a common word's whole
	// list each time.
	sqlSearchByIndex = `
		SELECT ` + searchCols + ` FROM messages m
		WHERE m.search_tsv @@ $2::tsquery AND ` + searchAlive + ` AND m.room_id + 0 IN (` + searchRooms + `)
		ORDER BY m.created_at DESC, m.room_id DESC, m.seq DESC LIMIT $7`
	// ts_match_vq is @@ as a function, which no index serves: the planner
	// would otherwise probe the GIN index once per room, each probe as dear
	// as the whole list of a common word.
	sqlSearchByTime = `
		WITH r AS MATERIALIZED (` + searchRooms + `),
		floor AS (
			SELECT f.created_at FROM r CROSS JOIN LATERAL (
				SELECT m.created_at FROM messages m
				WHERE m.room_id = r.room_id AND ts_match_vq(m.search_tsv, $2::tsquery) AND ` + searchAlive + `
				ORDER BY m.created_at DESC LIMIT 1) f
			ORDER BY f.created_at DESC OFFSET $7 - 1 LIMIT 1)
		SELECT x.* FROM r CROSS JOIN LATERAL (
			SELECT ` + searchCols + ` FROM messages m
			WHERE m.room_id = r.room_id AND ts_match_vq(m.search_tsv, $2::tsquery) AND ` + searchAlive + `
			  AND m.created_at >= COALESCE((SELECT created_at FROM floor), '-infinity')
			ORDER BY m.created_at DESC, m.seq DESC LIMIT $7) x
		ORDER BY x.created_at DESC, x.room_id DESC, x.seq DESC LIMIT $7`
)

// byTimeCheaper is the cost model: heap visits of byIndex (every match on
// the server) against rows walked by byTime (rooms + limit first matches,
// one in 1/share rows each).
func byTimeCheaper(share, total float64, rooms, limit int) bool {
	if share <= 0 {
		return false
	}
	return float64(rooms+limit)/share < share*total
}

// SearchMessages returns up to q.Limit messages matching q.Text in the
// rooms q.User belongs to (or in q.Room, if the user belongs to it), newest
// first, and whether more follow. The statements go over the simple
// protocol, so each is planned with its values (the pool's sessions force
// generic plans, which cannot weigh a common word against a rare one).
func (s *Store) SearchMessages(ctx context.Context, q Search) ([]SearchHit, bool, error) {
	return s.search(ctx, q, nil)
}

// search runs q with the plan the cost model picks, or byTime when forced
// says so (tests run both plans).
func (s *Store) search(ctx context.Context, q Search, forceByTime *bool) ([]SearchHit, bool, error) {
	if q.Limit <= 0 {
		q.Limit = 20
	}
	var hits []SearchHit
	more := false
	err := s.run(ctx, "search", func(ctx context.Context) (int, error) {
		tsq, share, total, rooms, err := s.searchQuery(ctx, q)
		if err != nil {
			return 0, err
		}
		var ts any
		var room, seq int64
		if q.Before != nil {
			ts, room, seq = q.Before.TS, q.Before.Room, q.Before.Seq
		}
		args := []any{pgx.QueryExecModeSimpleProtocol, q.User, tsq, q.Room, ts, room, seq, q.Limit + 1, q.Text}
		plan := sqlSearchByIndex
		byTime := byTimeCheaper(share, total, rooms, q.Limit+1)
		if forceByTime != nil {
			byTime = *forceByTime
		}
		if byTime {
			plan = sqlSearchByTime
		}
		rows, err := s.pool.Query(ctx, fmt.Sprintf(headlineSelect, plan), args...)
		if err != nil {
			return 0, err
		}
		defer rows.Close()
		for rows.Next() {
			var h SearchHit
			var headline string
			m := &h.Msg
			if err := rows.Scan(&m.Room, &m.Seq, &m.User.ID, &m.User.Name, &m.Body, &m.CID, &m.TS, &headline); err != nil {
				return len(hits), err
			}
			m.TS = m.TS.UTC()
			h.Snippet = parseHeadline(headline)
			hits = append(hits, h)
		}
		return len(hits), rows.Err()
	})
	if err != nil {
		return nil, false, err
	}
	if len(hits) > q.Limit {
		hits, more = hits[:q.Limit], true
	}
	return hits, more, nil
}

// searchQuery turns the text into one tsquery: the text read by
// websearch_to_tsquery in every configuration messages are analysed with
// (search_configs), ORed, so messages stored before a change of language
// are still found. share is the planner's estimate of the share of all
// messages it matches, total the planner's count of messages and rooms
// the number of rooms searched.
func (s *Store) searchQuery(ctx context.Context, sq Search) (tsq string, share, total float64, rooms int, err error) {
	rows, err := s.pool.Query(ctx, `
		SELECT websearch_to_tsquery(c.cfg, $1)::text, querytree(websearch_to_tsquery(c.cfg, $1)),
		       (SELECT reltuples FROM pg_class WHERE oid = 'messages'::regclass),
		       (SELECT count(*) FROM room_users ru WHERE ru.user_id = $2 AND ($3 = 0 OR ru.room_id = $3))
		FROM search_configs c ORDER BY c.added_at, c.cfg`, sq.Text, sq.User, sq.Room)
	if err != nil {
		return "", 0, 0, 0, err
	}
	var parts []string
	negatedOnly := false
	for rows.Next() {
		var q, tree string
		if err := rows.Scan(&q, &tree, &total, &rooms); err != nil {
			rows.Close()
			return "", 0, 0, 0, err
		}
		switch {
		case q == "":
		case tree == "T":
			negatedOnly = true
		default:
			parts = append(parts, "("+q+")")
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return "", 0, 0, 0, err
	}
	switch {
	case negatedOnly:
		return "", 0, 0, 0, fmt.Errorf("%w: %w", chatcore.ErrInvalidInput, ErrSearchOnlyNegated)
	case len(parts) == 0:
		return "", 0, 0, 0, fmt.Errorf("%w: %w", chatcore.ErrInvalidInput, ErrSearchNoWords)
	}
	tsq = strings.Join(dedupe(parts), " | ")
	if total <= 0 {
		return tsq, 0, 0, rooms, nil // never analysed: small, any plan is fast
	}
	var plan []struct {
		Plan struct {
			Rows float64 `json:"Plan Rows"`
		} `json:"Plan"`
	}
	var raw []byte
	err = s.pool.QueryRow(ctx, `EXPLAIN (FORMAT JSON) SELECT 1 FROM messages WHERE search_tsv @@ $1::tsquery`,
		pgx.QueryExecModeSimpleProtocol, tsq).Scan(&raw)
	if err != nil {
		return "", 0, 0, 0, err
	}
	if err := json.Unmarshal(raw, &plan); err != nil || len(plan) == 0 {
		return "", 0, 0, 0, fmt.Errorf("reading the search estimate: %v", err)
	}
	return tsq, plan[0].Plan.Rows / total, total, rooms, nil
}

func dedupe(ss []string) []string {
	out := ss[:0]
	seen := map[string]bool{}
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// parseHeadline splits ts_headline's output at the markers.
func parseHeadline(h string) []SnippetPart {
	parts := []SnippetPart{}
	match := false
	for h != "" {
		i := strings.IndexAny(h, markStart+markStop)
		if i < 0 {
			i = len(h)
		}
		if i > 0 {
			parts = append(parts, SnippetPart{Text: h[:i], Match: match})
		}
		if i == len(h) {
			break
		}
		match = h[i] == markStart[0]
		h = h[i+1:]
	}
	return parts
}
