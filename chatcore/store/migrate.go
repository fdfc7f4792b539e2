package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrationLockKey is the pg_advisory_lock key that serializes schema changes
// across every instance starting at once ("chatgate" in ASCII, as an int64).
const migrationLockKey int64 = 0x6368617467617465

type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads migrations/NNNN_name.sql in version order.
func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	seen := map[int]string{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %q: name must be NNNN_description.sql", name)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %q and %q share version %d", prev, name, v)
		}
		seen[v] = name
		b, err := migrationFS.ReadFile(path.Join("migrations", name))
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// Migrate creates the database when it does not exist yet and applies the
// embedded migrations that are not recorded in schema_migrations. It is
// idempotent and safe when many instances start at once: the work runs on one
// dedicated connection under a session advisory lock, and each migration is
// applied and recorded in one transaction.
//
// The dedicated connection has statement_timeout and lock_timeout disabled
// (waiting for another instance's migration is expected); ctx bounds it.
func (s *Store) Migrate(ctx context.Context) error {
	migs, err := loadMigrations()
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	start := time.Now()
	conn, err := s.migrationConn(ctx)
	if err != nil {
		return wrapErr("migrate: connect", ctx, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))

	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLockKey); err != nil {
		return wrapErr("migrate: lock", ctx, err)
	}
	// Session locks die with the connection anyway; unlock explicitly so a
	// pooled or long-lived connection never keeps it.
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLockKey) //nolint:errcheck

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer     PRIMARY KEY,
		name       text        NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return wrapErr("migrate: schema_migrations", ctx, err)
	}
	applied := map[int]bool{}
	rows, err := conn.Query(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return wrapErr("migrate: read versions", ctx, err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return wrapErr("migrate: read versions", ctx, err)
		}
		applied[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return wrapErr("migrate: read versions", ctx, err)
	}

	for _, m := range migs {
		if applied[m.version] {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			// No arguments: pgx uses the simple protocol, so a file may hold
			// many statements.
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name)
			return err
		})
		if err != nil {
			return wrapErr("migrate: apply "+m.name, ctx, err)
		}
		s.log.Info("applied migration", zap.String("name", m.name))
	}
	if err := s.applySearchLanguage(ctx, conn); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	if err := s.backfillNameFold(ctx, conn); err != nil {
		return wrapErr("migrate: fold user names", ctx, err)
	}
	s.obs.ObserveQuery("migrate", time.Since(start), nil)
	return nil
}

// migrationConn opens a dedicated connection to the configured database,
// creating the database first when the server reports 3D000.
func (s *Store) migrationConn(ctx context.Context) (*pgx.Conn, error) {
	cc := s.pool.Config().ConnConfig.Copy()
	cc.RuntimeParams["statement_timeout"] = "0"
	cc.RuntimeParams["lock_timeout"] = "0"
	cc.RuntimeParams["idle_in_transaction_session_timeout"] = "0"
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err == nil || pgCode(err) != codeInvalidCatalog {
		return conn, err
	}
	if err := createDatabase(ctx, cc); err != nil {
		return nil, err
	}
	return pgx.ConnectConfig(ctx, cc)
}

// createDatabase connects to the "postgres" maintenance database of the same
// server and creates cc.Database. Losing a creation race to another instance
// is success.
func createDatabase(ctx context.Context, cc *pgx.ConnConfig) error {
	admin := cc.Copy()
	admin.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return fmt.Errorf("connect to maintenance db: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{cc.Database}.Sanitize())
	switch code := pgCode(err); {
	case err == nil, code == codeDuplicateDatabase:
		return nil
	case code == codeUniqueViolation:
		// Concurrent CREATE DATABASE of the same name can also surface as a
		// unique violation on pg_database's name index.
		return nil
	default:
		return fmt.Errorf("create database %q: %w", cc.Database, err)
	}
}
