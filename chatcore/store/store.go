// Package store is Chatgate's Postgres system of record: users, rooms,
// memberships and messages, plus the write batcher that assigns every room a
// gap-free message sequence.
//
// Every statement goes through one helper (Store.run) that puts it under a
// context deadline, times it by a short query name for the slow-query log and
// the Observer, and maps driver errors onto the chatcore sentinels
// (ErrNotFound, ErrConflict, ErrUnavailable) so callers can use errors.Is
// without knowing anything about pgx.
package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
)

// Config configures a Store. Zero values pick the documented defaults.
type Config struct {
	// DSN is a libpq-style URL or key=value string, e.g.
	// postgres://postgres@127.0.0.1:5432/chatgate?sslmode=disable.
	DSN string

	// ReplicaDSN, when set, names a streaming read replica (hot standby) of
	// the DSN database. HistoryRead and AfterRead serve history pages from it
	// when it has replayed far enough for the page to be complete, and from
	// the primary otherwise (see replica.go). It gets its own pool with the
	// same size, timeouts and session settings. Empty means no replica.
	ReplicaDSN string

	// MaxConns caps the pool. Default 16: 2-4x cores for request traffic plus
	// the batch flushers (see notes/performance.md §8).
	MaxConns int32

	// StatementTimeout is sent to the server as statement_timeout and
	// lock_timeout; idle_in_transaction_session_timeout is twice this. The
	// server then aborts a runaway statement itself and the connection
	// survives. Default 5s.
	StatementTimeout time.Duration

	// QueryTimeout is the context deadline put on every query (and on each
	// attempt of a batch flush). It defaults to StatementTimeout+1s so that
	// the server-side timeout normally fires first: a context deadline can
	// only be enforced by killing the connection, the server-side one keeps it.
	// The deadline is the backstop for a dead network or server.
	QueryTimeout time.Duration

	// SlowQuery is the threshold above which a query is logged at Warn with
	// its name, duration and row count. Default 50ms; negative disables.
	SlowQuery time.Duration

	// BatchMax caps the messages committed by one flush. Default 512.
	BatchMax int

	// BatchWorkers is the number of concurrent flusher goroutines (and thus
	// pool connections the batcher can hold). Default 2.
	BatchWorkers int

	// BatchQueue bounds the batcher queue; Submit fails fast with
	// ErrUnavailable when it is full. Default 65536.
	BatchQueue int

	// SearchLanguage is the text search configuration new messages are
	// analysed with for search ("english", "simple", "german", ...: any
	// name in pg_ts_config). Migrate applies it. Default "english".
	SearchLanguage string

	// Logger receives slow-query and batcher logs. Default zap.NewNop().
	Logger *zap.Logger

	// Observer receives per-query and per-flush timings (for Prometheus).
	// Nil means no-op.
	Observer Observer
}

func (c *Config) setDefaults() {
	if c.MaxConns <= 0 {
		c.MaxConns = 16
	}
	if c.StatementTimeout <= 0 {
		c.StatementTimeout = 5 * time.Second
	}
	if c.QueryTimeout <= 0 {
		c.QueryTimeout = c.StatementTimeout + time.Second
	}
	if c.SlowQuery == 0 {
		c.SlowQuery = 50 * time.Millisecond
	}
	if c.BatchMax <= 0 {
		c.BatchMax = 512
	}
	if c.BatchWorkers <= 0 {
		c.BatchWorkers = 2
	}
	if c.BatchQueue <= 0 {
		c.BatchQueue = 1 << 16
	}
	if c.SearchLanguage == "" {
		c.SearchLanguage = "english"
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
}

// Store is a handle on the Chatgate database. It is safe for concurrent use.
type Store struct {
	cfg    Config
	pool   *pgxpool.Pool
	log    *zap.Logger
	obs    Observer
	closed atomic.Bool

	replica *replica // nil without Config.ReplicaDSN
}

// New parses cfg and builds the connection pool without any network I/O:
// pgxpool dials lazily (MinConns is left at 0), so New works offline, which
// Caddy's Provision requires. The first query, Ping or Migrate connects.
func New(cfg Config) (*Store, error) {
	cfg.setDefaults()
	if cfg.DSN == "" {
		return nil, errors.New("store: empty DSN")
	}
	pcfg, err := poolConfig(cfg.DSN, "", cfg)
	if err != nil {
		return nil, err
	}
	setSessionParams(pcfg.ConnConfig.RuntimeParams, cfg)
	pool, err := pgxpool.NewWithConfig(context.Background(), pcfg)
	if err != nil {
		return nil, fmt.Errorf("store: create pool: %w", err)
	}
	rep, err := newReplica(cfg, pcfg)
	if err != nil {
		pool.Close()
		return nil, err
	}
	return &Store{cfg: cfg, pool: pool, log: cfg.Logger, obs: cfg.Observer, replica: rep}, nil
}

// poolConfig parses a DSN (the primary's or, what "replica ", the
// replica's) into the pool settings every pool of the Store shares: size
// MaxConns, no connections opened ahead (MinConns 0: New stays offline),
// and a connect timeout no longer than QueryTimeout.
func poolConfig(dsn, what string, cfg Config) (*pgxpool.Config, error) {
	pcfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The parse error may echo the DSN; it never contains more than the
		// operator typed, so it is fine to surface.
		return nil, fmt.Errorf("store: parse %sDSN: %w", what, err)
	}
	pcfg.MaxConns = cfg.MaxConns
	pcfg.MinConns = 0
	pcfg.MinIdleConns = 0
	if pcfg.ConnConfig.ConnectTimeout == 0 || pcfg.ConnConfig.ConnectTimeout > cfg.QueryTimeout {
		pcfg.ConnConfig.ConnectTimeout = cfg.QueryTimeout
	}
	return pcfg, nil
}

// setSessionParams sets the primary's session parameters (a replica
// inherits them): the server-side timeouts, and the generic plan and
// application name unless the DSN names its own.
func setSessionParams(rp map[string]string, cfg Config) {
	ms := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
	rp["statement_timeout"] = ms(cfg.StatementTimeout)
	rp["lock_timeout"] = ms(cfg.StatementTimeout)
	rp["idle_in_transaction_session_timeout"] = ms(2 * cfg.StatementTimeout)
	// Every statement here is a short parameterized lookup or the batcher's
	// flush, for which the generic plan is the right plan (index probes by
	// key). With the default "auto", Postgres keeps re-planning the array-
	// parameter flush statement on every execution (~1 ms of CPU per flush
	// measured); forcing the generic plan makes pgx's prepared statements plan
	// once per connection. A DSN parameter plan_cache_mode=... overrides this.
	if rp["plan_cache_mode"] == "" {
		rp["plan_cache_mode"] = "force_generic_plan"
	}
	if rp["application_name"] == "" {
		rp["application_name"] = "chatgate"
	}
}

// Ping checks that a connection can be acquired and answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.run(ctx, "ping", func(ctx context.Context) (int, error) {
		return 0, s.pool.Ping(ctx)
	})
}

// Close closes every pooled connection. Stop batchers first: Close does not
// wait for them and their pending flushes then fail with ErrUnavailable.
func (s *Store) Close() {
	if s.closed.CompareAndSwap(false, true) {
		s.pool.Close()
		if s.replica != nil {
			s.replica.pool.Close()
		}
	}
}

// Stats snapshots the pool for metrics.
func (s *Store) Stats() PoolStats {
	st := s.pool.Stat()
	return PoolStats{
		Acquired:     st.AcquiredConns(),
		Idle:         st.IdleConns(),
		Total:        st.TotalConns(),
		Max:          st.MaxConns(),
		Acquires:     st.AcquireCount(),
		Waits:        st.EmptyAcquireCount(),
		WaitDuration: st.EmptyAcquireWaitTime(),
	}
}

// run is the one choke point for database work: it bounds fn with the query
// deadline, times it under name, logs it when slow, reports it to the
// Observer and wraps its error with the name and the matching chatcore
// sentinel. fn returns the number of rows it touched, for the slow log.
func (s *Store) run(ctx context.Context, name string, fn func(ctx context.Context) (rows int, err error)) error {
	if s.closed.Load() {
		return wrapErr(name, ctx, errPoolClosed)
	}
	qctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	start := time.Now()
	rows, err := fn(qctx)
	d := time.Since(start)
	cancel()
	err = wrapErr(name, ctx, err)
	s.observe(name, d, rows, err)
	return err
}

func (s *Store) observe(name string, d time.Duration, rows int, err error) {
	s.obs.ObserveQuery(name, d, err)
	if s.cfg.SlowQuery > 0 && d >= s.cfg.SlowQuery {
		s.log.Warn("slow query",
			zap.String("name", name),
			zap.Duration("duration", d),
			zap.Int("rows", rows),
			zap.Error(err))
	}
}
