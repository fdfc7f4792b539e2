package store

import (
	"context"

	"github.com/chatgate/chatgate/chatcore"
	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// The member directory (GET /api/users?q=): prefixes of users' names,
// case-insensitively in every script, a page at a time.

// FoldName is the form names are matched in: NFC, case-folded, NFC again
// (folding may decompose). It is what users.name_fold holds and what a
// query is folded to, so "ANN", "ann" and "Ann" find "Ann", and "STRASSE"
// finds "Straße". Accents are kept: "e" does not find "é".
func FoldName(s string) string {
	// Unicode full case folding (ß and ss, Σ σ and ς, K and the Kelvin sign
	// match). A Caser is not safe for concurrent use: one per call.
	return norm.NFC.String(cases.Fold().String(norm.NFC.String(s)))
}

// nameFoldEnd is appended to a folded prefix for the upper bound of its
// range: U+10FFFF is a noncharacter, which names never hold (PRECIS
// refuses unassigned code points), and in the "C" collation's byte order
// every string that starts with the prefix sorts below prefix+U+10FFFF.
const nameFoldEnd = "\U0010FFFF"

// UserCursor is where a directory page ends: the keyset (name_fold, id) of
// its last row.
type UserCursor struct {
	Fold string
	ID   int64
}

// SearchUsers returns up to limit users whose folded name starts with
// prefix (already folded by FoldName), after cursor, in (name_fold, id)
// order, and whether more follow. It is one range scan of
// idx_users_name_fold: the bounds are explicit (not LIKE) so a generic
// plan of the prepared statement keeps the index range. E-mails are not
// read.
func (s *Store) SearchUsers(ctx context.Context, prefix string, after UserCursor, limit int) ([]chatcore.UserRef, UserCursor, bool, error) {
	out := []chatcore.UserRef{}
	var last UserCursor
	more := false
	err := s.run(ctx, "search_users", func(ctx context.Context) (int, error) {
		rows, err := s.pool.Query(ctx, `
			SELECT id, name, name_fold FROM users
			WHERE name_fold >= $1 AND name_fold < $2 AND (name_fold, id) > ($3, $4)
			ORDER BY name_fold, id
			LIMIT $5`, prefix, prefix+nameFoldEnd, after.Fold, after.ID, limit+1)
		if err != nil {
			return 0, err
		}
		defer rows.Close()
		for rows.Next() {
			var u chatcore.UserRef
			var fold string
			if err := rows.Scan(&u.ID, &u.Name, &fold); err != nil {
				return len(out), err
			}
			if len(out) == limit {
				more = true
				break
			}
			out = append(out, u)
			last = UserCursor{Fold: fold, ID: u.ID}
		}
		return len(out), rows.Err()
	})
	return out, last, more, err
}

// backfillNameFold folds the names of users that have none yet (rows from
// before migration 0004, or written by an older instance during a rolling
// upgrade), 1000 at a time. It runs on the migration connection, under its
// lock, after the migrations; the fold is Go's (FoldName), so SQL cannot
// do it.
func (s *Store) backfillNameFold(ctx context.Context, conn *pgx.Conn) error {
	total := 0
	for {
		rows, err := conn.Query(ctx, "SELECT id, name FROM users WHERE name_fold IS NULL ORDER BY id LIMIT 1000")
		if err != nil {
			return err
		}
		var ids []int64
		var folds []string
		for rows.Next() {
			var id int64
			var name string
			if err := rows.Scan(&id, &name); err != nil {
				rows.Close()
				return err
			}
			ids, folds = append(ids, id), append(folds, FoldName(name))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(ids) == 0 {
			if total > 0 {
				s.log.Info("folded user names for the directory", zap.Int("users", total))
			}
			return nil
		}
		if _, err := conn.Exec(ctx, `
			UPDATE users u SET name_fold = x.f
			FROM unnest($1::bigint[], $2::text[]) AS x(id, f)
			WHERE u.id = x.id`, ids, folds); err != nil {
			return err
		}
		total += len(ids)
	}
}

// UsersNamed returns up to limit users whose folded name is fold, by id:
// an invitation by name needs exactly one.
func (s *Store) UsersNamed(ctx context.Context, fold string, limit int) ([]chatcore.UserRef, error) {
	out := []chatcore.UserRef{}
	err := s.run(ctx, "users_named", func(ctx context.Context) (int, error) {
		rows, err := s.pool.Query(ctx, "SELECT id, name FROM users WHERE name_fold = $1 ORDER BY id LIMIT $2", fold, limit)
		if err != nil {
			return 0, err
		}
		defer rows.Close()
		for rows.Next() {
			var u chatcore.UserRef
			if err := rows.Scan(&u.ID, &u.Name); err != nil {
				return len(out), err
			}
			out = append(out, u)
		}
		return len(out), rows.Err()
	})
	return out, err
}
