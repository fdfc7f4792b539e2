package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// The write strategies BenchmarkBatcherThroughput compares with the
// production one, flusher.writeFlush (one statement per flush, sent as a
// one-query pgx.Batch: one round trip in an implicit transaction). They are
// set as Batcher.write; TestBatcherSeqContiguousAlternatives keeps them as
// correct as the default.
//
// writeCopy is the classic BEGIN; seq bump; CopyFrom; COMMIT: four round
// trips, and pgx's CopyFrom re-describes the table on every call and boxes
// every value in [][]any. Measured with BenchmarkBatcherThroughput (256 in
// flight, 100 rooms, 2 flushers, 2-core VM shared with other work; 3 runs
// each): pipelined 15.1-15.2k msgs/s, 11.6-12.7 us Go CPU and 30.5-33 us
// Postgres CPU per message; CopyFrom 13.0-16.2k msgs/s, 19-20 us Go CPU and
// 31.8-34.8 us Postgres CPU. Same server work, pipelined needs ~40% less
// client CPU and fewer round trips, so it is the default; CopyFrom only pays
// off for thousands of rows per statement, which a chat batch never reaches.
//
// writePerRoom pipelines one UPDATE ... RETURNING per room and the INSERT in
// one implicit transaction: 33.8-38 vs 30.5-33 us Postgres CPU and 15.5 vs
// 12 us Go CPU per message against sqlFlush (see its comment).

const (
	sqlBumpSeq = `UPDATE rooms SET last_seq = last_seq + $2 WHERE id = $1 RETURNING last_seq`

	// sqlBumpSeqs is sqlFlush's lock-and-bump without the insert.
	sqlBumpSeqs = `
		WITH locked AS (
			SELECT id FROM rooms WHERE id = ANY($1::bigint[]) ORDER BY id FOR NO KEY UPDATE
		)
		UPDATE rooms r SET last_seq = r.last_seq + x.n
		FROM unnest($1::bigint[], $2::bigint[]) AS x(id, n)
		WHERE r.id = x.id AND r.id IN (SELECT id FROM locked)
		RETURNING r.id, r.last_seq`

	// sqlInsertMessages follows the per-room bumps in the same implicit
	// transaction, so rooms.last_seq is already the new value (and locked
	// by us); rows of unknown rooms fall out of the join.
	sqlInsertMessages = `
		INSERT INTO messages (room_id, seq, user_id, body, client_id, created_at)
		SELECT x.room, r.last_seq + x.off, x.uid, x.body, NULLIF(x.cid, ''), $6
		FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[]) AS x(room, off, uid, body, cid)
		JOIN rooms r ON r.id = x.room`
)

// writePerRoom: one UPDATE per room (ascending room order, the lock order),
// then the INSERT, pipelined.
func writePerRoom(f *flusher, ctx context.Context, runs []roomRun, ts time.Time) error {
	var batch pgx.Batch
	for _, r := range runs {
		batch.Queue(sqlBumpSeq, r.room, r.n)
	}
	batch.Queue(sqlInsertMessages, f.rooms, f.offs, f.users, f.bodies, f.cids, ts)
	br := f.b.s.pool.SendBatch(ctx, &batch)
	for i := range runs {
		runs[i].found = false
		err := br.QueryRow().Scan(&runs[i].last)
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			br.Close()
			return err
		}
		runs[i].found = true
	}
	if _, err := br.Exec(); err != nil {
		br.Close()
		return err
	}
	return br.Close()
}

// writeCopy: BEGIN, the set-based seq bump, CopyFrom, COMMIT.
func writeCopy(f *flusher, ctx context.Context, runs []roomRun, ts time.Time) error {
	tx, err := f.b.s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after Commit
	f.runArrays(runs)
	var batch pgx.Batch
	batch.Queue(sqlBumpSeqs, f.runRooms, f.runNs)
	br := tx.SendBatch(ctx, &batch)
	if err := f.readBumps(br, runs); err != nil {
		br.Close()
		return err
	}
	if err := br.Close(); err != nil {
		return err
	}
	rows := make([][]any, 0, len(f.rooms))
	i := 0
	for _, r := range runs {
		for k := int64(1); k <= r.n; k, i = k+1, i+1 {
			if !r.found {
				continue
			}
			var cid any
			if f.cids[i] != "" {
				cid = f.cids[i]
			}
			rows = append(rows, []any{r.room, r.last - r.n + k, f.users[i], f.bodies[i], cid, ts})
		}
	}
	if len(rows) > 0 {
		_, err = tx.CopyFrom(ctx, pgx.Identifier{"messages"},
			[]string{"room_id", "seq", "user_id", "body", "client_id", "created_at"}, pgx.CopyFromRows(rows))
		if err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}
