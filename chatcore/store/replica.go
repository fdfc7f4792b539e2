package store

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/chatgate/chatgate/chatcore"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
)

// Read replica for history pages.
//
// History pages are the heaviest reads Chatgate does (an index walk plus a
// users join for up to 1001 rows) and they are pure reads, so they can move
// to a streaming replica. A replica lags, though, and a page read from it
// must never miss a message the primary has committed and the client can
// expect to see (its own message, or one it was sent over the socket). The
// lag check is per room and exact rather than time-based:
//
//   - The batcher bumps rooms.last_seq and inserts the messages in the same
//     transaction, and a hot standby exposes whole transactions only, so a
//     replica whose rooms.last_seq for the room is R holds every message
//     with seq 1..R (seqs are gap-free and never hard-deleted).
//   - The replica's R is read in the same statement (same snapshot) as the
//     page: one round trip, and R describes exactly the rows returned.
//   - A page is complete when R covers the highest seq the page can contain.
//     For History below a cursor that is before-1 and for After it is
//     after+limit+1 (the extra row that decides hasMore): both known without
//     asking the primary, so deep paging costs the primary nothing.
//   - The newest page (History with before <= 0), and an After page that
//     reaches past R, need the newest committed seq, which only the primary
//     knows: it is read with a primary-key probe of rooms (query name
//     "room_last_seq"), far cheaper than the page itself. A caller-supplied
//     "newest seq I know" was rejected: the REST handler has no authoritative
//     one (the local hub may not hold the room, and a message acknowledged by
//     another gateway instance reaches this one only through the bus, maybe
//     after the client's next request), so it could only under-state the
//     need and return a page without the client's own message.
//
// Anything short of complete, and any replica error, falls back to the
// primary's History/After. After a replica error other than the caller's
// own cancellation the replica is skipped for replicaBackoff, so a replica
// that is down (or blackholed, costing a connect timeout per attempt) does
// not add latency to every read.

// replicaBackoff is how long the replica is bypassed after it failed.
const replicaBackoff = 2 * time.Second

type replica struct {
	pool      *pgxpool.Pool
	downUntil atomic.Int64 // unix nanoseconds; replica skipped before then
}

// newReplica builds the replica pool from cfg.ReplicaDSN, without network
// I/O like the primary's. It inherits the primary's pool size, connect
// timeout and session parameters (statement_timeout, plan_cache_mode, ...)
// unless the replica DSN sets them itself. nil, nil without a ReplicaDSN.
func newReplica(cfg Config, primary *pgxpool.Config) (*replica, error) {
	if cfg.ReplicaDSN == "" {
		return nil, nil
	}
	pcfg, err := poolConfig(cfg.ReplicaDSN, "replica ", cfg)
	if err != nil {
		return nil, err
	}
	for k, v := range primary.ConnConfig.RuntimeParams {
		if _, set := pcfg.ConnConfig.RuntimeParams[k]; !set {
			pcfg.ConnConfig.RuntimeParams[k] = v
		}
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), pcfg)
	if err != nil {
		return nil, fmt.Errorf("store: create replica pool: %w", err)
	}
	return &replica{pool: pool}, nil
}

// The replica statements return the room's last_seq on every row, next to
// the page, from one snapshot. The LEFT JOIN LATERAL keeps one row (with a
// NULL message) when the page is empty, so R is known even then; no row at
// all means the replica has not replayed the room's creation.
const (
	replicaPageHead = `
	SELECT r.last_seq, m.room_id, m.seq, m.user_id, m.user_name, m.body, m.client_id, m.created_at,
	       m.kind, m.target_seq, m.rev, m.edited_at, m.deleted, m.reactions
	FROM rooms r LEFT JOIN LATERAL (`
	replicaPageTail = `) m(room_id, seq, user_id, user_name, body, client_id, created_at, kind, target_seq, rev, edited_at, deleted, reactions) ON true
	WHERE r.id = $1 `

	sqlReplicaBefore = replicaPageHead + sqlHistoryBefore + replicaPageTail + `ORDER BY m.seq DESC`
	sqlReplicaAfter  = replicaPageHead + sqlHistoryAfter + replicaPageTail + `ORDER BY m.seq ASC`
)

// HistoryRead is History served from the replica when the replica's page is
// complete, from the primary otherwise; without a replica it is History.
func (s *Store) HistoryRead(ctx context.Context, roomID, before int64, limit int) ([]chatcore.Message, bool, error) {
	if !s.replicaUsable() {
		return s.History(ctx, roomID, before, limit)
	}
	lim := clampLimit(limit)
	cursor, need := before, before-1
	if before <= 0 {
		cursor, need = math.MaxInt64, -1 // the newest page needs the primary's last_seq
	}
	msgs, ok, err := s.replicaPage(ctx, "history_before_replica", sqlReplicaBefore, roomID, cursor, lim, need)
	if err != nil {
		return nil, false, err
	}
	if !ok {
		return s.History(ctx, roomID, before, limit)
	}
	if len(msgs) > lim {
		return msgs[:lim], true, nil
	}
	return msgs, false, nil
}

// AfterRead is After served from the replica when the replica's page is
// complete, from the primary otherwise; without a replica it is After.
func (s *Store) AfterRead(ctx context.Context, roomID, after int64, limit int) ([]chatcore.Message, bool, error) {
	if !s.replicaUsable() {
		return s.After(ctx, roomID, after, limit)
	}
	if after < 0 {
		after = 0
	}
	lim := clampLimit(limit)
	// The page plus the hasMore probe row end at after+lim+1 at most.
	need := int64(-1)
	if after <= math.MaxInt64-int64(lim)-1 {
		need = after + int64(lim) + 1
	}
	msgs, ok, err := s.replicaPage(ctx, "history_after_replica", sqlReplicaAfter, roomID, after, lim, need)
	if err != nil {
		return nil, false, err
	}
	if !ok {
		return s.After(ctx, roomID, after, limit)
	}
	if len(msgs) > lim {
		return msgs[:lim], true, nil
	}
	return msgs, false, nil
}

func (s *Store) replicaUsable() bool {
	return s.replica != nil && time.Now().UnixNano() >= s.replica.downUntil.Load()
}

// replicaPage reads limit+1 rows from the replica and reports whether they
// are the complete page. need is the highest seq the page can hold, or -1
// when only the primary's last_seq can tell (newest page). When the replica
// falls short of need, the primary's last_seq decides instead: a replica that
// has everything the primary has is complete whatever the cursor. It returns
// an error only when the caller's context is done; replica failures are
// reported to the Observer under name and answered with ok=false.
func (s *Store) replicaPage(ctx context.Context, name, sql string, roomID, cursor int64, limit int, need int64) (msgs []chatcore.Message, ok bool, err error) {
	var primaryLast int64
	askedPrimary := need < 0
	if askedPrimary {
		// Read the primary first: the replica then gets this round trip's
		// time to replay the newest commits, so a busy room falls back less.
		if primaryLast, err = s.roomLastSeq(ctx, roomID); err != nil {
			return nil, false, s.ctxErr(ctx)
		}
		need = primaryLast
	}
	msgs, replicaLast, found, err := s.replicaMessages(ctx, name, sql, roomID, cursor, limit+1)
	if err != nil {
		if ctx.Err() != nil {
			return nil, false, err
		}
		s.replica.downUntil.Store(time.Now().Add(replicaBackoff).UnixNano())
		// At most one log line per backoff period.
		s.log.Warn("replica read failed; using the primary",
			zap.String("name", name), zap.Duration("backoff", replicaBackoff), zap.Error(err))
		return nil, false, nil
	}
	if !found {
		return nil, false, nil // room not replayed yet (or no such room)
	}
	if replicaLast >= need {
		return msgs, true, nil
	}
	if !askedPrimary {
		// need came from the cursor; the page may still be complete if the
		// cursor is past the room's end and the replica has all there is.
		if primaryLast, err = s.roomLastSeq(ctx, roomID); err != nil {
			return nil, false, s.ctxErr(ctx)
		}
		if replicaLast >= primaryLast {
			return msgs, true, nil
		}
	}
	return nil, false, nil
}

// ctxErr turns a failed helper query into the caller's context error if the
// caller gave up, else nil so the primary path runs (and reports its own
// error if the primary is really down).
func (s *Store) ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return wrapErr("history_replica", ctx, err)
	}
	return nil
}

// roomLastSeq is the primary's newest seq for the room: a rooms primary-key
// probe, the cheap half of a lag check.
func (s *Store) roomLastSeq(ctx context.Context, roomID int64) (int64, error) {
	var last int64
	err := s.run(ctx, "room_last_seq", func(ctx context.Context) (int, error) {
		return 1, s.pool.QueryRow(ctx, "SELECT last_seq FROM rooms WHERE id = $1", roomID).Scan(&last)
	})
	return last, err
}

// replicaMessages runs a replica page statement. found is false when the
// replica has no row for the room.
func (s *Store) replicaMessages(ctx context.Context, name, sql string, roomID, a int64, b int) (out []chatcore.Message, last int64, found bool, err error) {
	out = []chatcore.Message{}
	err = s.run(ctx, name, func(ctx context.Context) (int, error) {
		rows, err := s.replica.pool.Query(ctx, sql, roomID, a, b)
		if err != nil {
			return 0, err
		}
		defer rows.Close()
		for rows.Next() {
			// The message columns are NULL on the single row of an empty page.
			var (
				room, seq, uid   *int64
				uname, body, cid *string
				ts               *time.Time
				kind             *int16
				target, rev      *int64
				deleted          *bool
				st               entryState
			)
			if err := rows.Scan(&last, &room, &seq, &uid, &uname, &body, &cid, &ts,
				&kind, &target, &rev, &st.edited, &deleted, &st.reactions); err != nil {
				return len(out), err
			}
			found = true
			if seq == nil {
				continue
			}
			m := chatcore.Message{Room: *room, Seq: *seq, Body: *body, CID: *cid, TS: *ts,
				Target: *target, Rev: *rev, Deleted: *deleted}
			m.User.ID, m.User.Name = *uid, *uname
			st.kind = *kind
			if err := st.apply(&m); err != nil {
				return len(out), err
			}
			out = append(out, m)
		}
		return len(out), rows.Err()
	})
	if err == nil {
		err = s.withFiles(ctx, s.replica.pool, roomID, out)
	}
	return out, last, found, err
}
