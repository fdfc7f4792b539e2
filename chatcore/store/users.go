package store

import (
	"context"
	"strings"

	"github.com/chatgate/chatgate/chatcore"
	"github.com/jackc/pgx/v5"
	"golang.org/x/text/unicode/norm"
)

const userCols = "id, name, email, password_hash, created_at, token_gen"

func scanUser(row pgx.Row) (chatcore.User, error) {
	var u chatcore.User
	err := row.Scan(&u.ID, &u.Name, &u.Email, &u.PasswordHash, &u.CreatedAt, &u.TokenGen)
	u.CreatedAt = u.CreatedAt.UTC()
	return u, err
}

// NormEmail is the one place emails are normalized: they are stored,
// compared and rate-limited lowercase and in Unicode NFC, so "Ann@X.org"
// and "ann@x.org" are one account, and so are "josé@x" with a precomposed é
// and "jose\u0301@x" with a combining accent, which look the same.
// Lowercasing first: a lowercase mapping may leave a string that is not in
// NFC, NFC never needs lowercasing again. Migration 0002 brought older rows
// to this form.
func NormEmail(email string) string {
	return norm.NFC.String(strings.ToLower(strings.TrimSpace(email)))
}

// CreateUser inserts a user. A taken email returns a wrapped
// chatcore.ErrConflict.
func (s *Store) CreateUser(ctx context.Context, name, email, passwordHash string) (chatcore.User, error) {
	var u chatcore.User
	err := s.run(ctx, "create_user", func(ctx context.Context) (n int, err error) {
		u, err = scanUser(s.pool.QueryRow(ctx,
			"INSERT INTO users (name, email, password_hash, name_fold) VALUES ($1, $2, $3, $4) RETURNING "+userCols,
			name, NormEmail(email), passwordHash, FoldName(name)))
		return 1, err
	})
	return u, err
}

// UserByEmail looks a user up by email, in NormEmail form (case and Unicode
// normalization do not matter); chatcore.ErrNotFound
// when there is none.
func (s *Store) UserByEmail(ctx context.Context, email string) (chatcore.User, error) {
	var u chatcore.User
	err := s.run(ctx, "user_by_email", func(ctx context.Context) (n int, err error) {
		u, err = scanUser(s.pool.QueryRow(ctx, "SELECT "+userCols+" FROM users WHERE email = $1", NormEmail(email)))
		return 1, err
	})
	return u, err
}

// UserByID returns one user; chatcore.ErrNotFound when there is none.
func (s *Store) UserByID(ctx context.Context, id int64) (chatcore.User, error) {
	var u chatcore.User
	err := s.run(ctx, "user_by_id", func(ctx context.Context) (n int, err error) {
		u, err = scanUser(s.pool.QueryRow(ctx, "SELECT "+userCols+" FROM users WHERE id = $1", id))
		return 1, err
	})
	return u, err
}

// UsersByID fetches many users in one query. Unknown ids are simply absent
// from the map.
func (s *Store) UsersByID(ctx context.Context, ids []int64) (map[int64]chatcore.User, error) {
	out := make(map[int64]chatcore.User, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	err := s.run(ctx, "users_by_id", func(ctx context.Context) (int, error) {
		rows, err := s.pool.Query(ctx, "SELECT "+userCols+" FROM users WHERE id = ANY($1)", ids)
		if err != nil {
			return 0, err
		}
		defer rows.Close()
		for rows.Next() {
			u, err := scanUser(rows)
			if err != nil {
				return len(out), err
			}
			out[u.ID] = u
		}
		return len(out), rows.Err()
	})
	return out, err
}

// TokenGens returns the session generation (migration 0011) of each
// existing user of ids, in one query.
func (s *Store) TokenGens(ctx context.Context, ids []int64) (map[int64]int64, error) {
	out := make(map[int64]int64, len(ids))
	err := s.run(ctx, "token_gens", func(ctx context.Context) (int, error) {
		rows, err := s.pool.Query(ctx, "SELECT id, token_gen FROM users WHERE id = ANY($1)", ids)
		if err != nil {
			return 0, err
		}
		defer rows.Close()
		for rows.Next() {
			var id, gen int64
			if err := rows.Scan(&id, &gen); err != nil {
				return len(out), err
			}
			out[id] = gen
		}
		return len(out), rows.Err()
	})
	return out, err
}

// EndSessions moves the user's session generation on, which ends every
// token issued before, and, when passwordHash is not empty, sets the new
// password in the same statement. It returns the user as stored now;
// chatcore.ErrNotFound when there is none.
func (s *Store) EndSessions(ctx context.Context, id int64, passwordHash string) (chatcore.User, error) {
	var u chatcore.User
	err := s.run(ctx, "end_sessions", func(ctx context.Context) (n int, err error) {
		u, err = scanUser(s.pool.QueryRow(ctx, `
			UPDATE users SET token_gen = token_gen + 1,
				password_hash = COALESCE(NULLIF($2, ''), password_hash)
			WHERE id = $1 RETURNING `+userCols, id, passwordHash))
		return 1, err
	})
	return u, err
}
