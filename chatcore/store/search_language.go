package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
)

// applySearchLanguage makes cfg.SearchLanguage the text search
// configuration of new messages (the default of messages.search_config)
// and lists it in search_configs, which searches OR over. It runs in
// Migrate, on its connection and under its advisory lock.
//
// A change of language therefore costs no rewrite: older messages keep the
// analysis they were stored with and are still found (their configuration
// stays in search_configs), new ones get the new one. README,
// "Search language", says how to re-analyse the old ones.
func (s *Store) applySearchLanguage(ctx context.Context, conn *pgx.Conn) error {
	lang := s.cfg.SearchLanguage
	var oid uint32
	var lit string
	var current bool
	err := conn.QueryRow(ctx, `
		SELECT c.oid, format('%L::regconfig', c.oid::regconfig),
		       format('%L::regconfig', c.oid::regconfig) IS NOT DISTINCT FROM (
		           SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d
		           JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
		           WHERE d.adrelid = 'messages'::regclass AND a.attname = 'search_config')
		FROM pg_ts_config c WHERE c.cfgname = $1
		ORDER BY pg_ts_config_is_visible(c.oid) DESC, c.oid LIMIT 1`, lang).Scan(&oid, &lit, &current)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("search_language %q: no such text search configuration (psql: \\dF lists them)", lang)
	}
	if err != nil {
		return fmt.Errorf("search_language: %w", err)
	}
	if !current {
		// Catalog only (no rewrite), but it takes messages' ACCESS
		// EXCLUSIVE lock for that moment.
		if _, err := conn.Exec(ctx, "ALTER TABLE messages ALTER COLUMN search_config SET DEFAULT "+lit); err != nil {
			return fmt.Errorf("search_language: set the default: %w", err)
		}
		s.log.Info("search language of new messages changed", zap.String("search_language", lang))
	}
	if _, err := conn.Exec(ctx, "INSERT INTO search_configs (cfg) VALUES ($1::oid::regconfig) ON CONFLICT DO NOTHING", oid); err != nil {
		return fmt.Errorf("search_language: %w", err)
	}
	return nil
}
