package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/chatgate/chatgate/chatcore"
	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// The tests run against a real Postgres: CHATGATE_TEST_POSTGRES, by default a
// throwaway database on the local server that Migrate creates.
const defaultTestDSN = "postgres://postgres@127.0.0.1:5432/chatgate_test_store?sslmode=disable"

var (
	testDSN   string
	testStore *Store
)

func TestMain(m *testing.M) {
	testDSN = os.Getenv("CHATGATE_TEST_POSTGRES")
	if testDSN == "" {
		testDSN = defaultTestDSN
	}
	s, err := New(Config{DSN: testDSN, MaxConns: 6})
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = s.Migrate(ctx)
		cancel()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "store tests need Postgres at", testDSN, ":", err)
		os.Exit(1)
	}
	testStore = s
	code := m.Run()
	s.Close()
	os.Exit(code)
}

// reset empties every table so a test starts from a known state.
func reset(t testing.TB) {
	t.Helper()
	if _, err := testStore.pool.Exec(context.Background(),
		"TRUNCATE messages, message_reactions, mentions, room_users, rooms, users RESTART IDENTITY CASCADE"); err != nil {
		t.Fatal(err)
	}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mkUser(t testing.TB, s *Store, name string) chatcore.User {
	t.Helper()
	u, err := s.CreateUser(ctxT(t), name, name+"@example.org", "hash")
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func mkRoom(t testing.TB, s *Store, creator int64, name string, private bool) chatcore.Room {
	t.Helper()
	r, err := s.CreateRoom(ctxT(t), creator, name, private)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func newStore(t testing.TB, cfg Config) *Store {
	t.Helper()
	if cfg.DSN == "" {
		cfg.DSN = testDSN
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = 4
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// dsnWithDB returns testDSN pointing at another database.
func dsnWithDB(t testing.TB, db string) string {
	t.Helper()
	cc, err := pgx.ParseConfig(testDSN)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cc.User, cc.Host, cc.Port, db)
}

func TestNewIsOffline(t *testing.T) {
	// Nothing listens on port 1: New must still succeed (Caddy Provision
	// runs offline), and work must fail fast with ErrUnavailable.
	s := newStore(t, Config{DSN: "postgres://postgres@127.0.0.1:1/nope?sslmode=disable", StatementTimeout: 500 * time.Millisecond})
	err := s.Ping(ctxT(t))
	if !errors.Is(err, chatcore.ErrUnavailable) {
		t.Fatalf("ping: want ErrUnavailable, got %v", err)
	}
	b := s.NewBatcher(nil)
	b.Start()
	res := b.Send(ctxT(t), SendRequest{Room: 1, UserID: 1, Body: "x"})
	if !errors.Is(res.Err, chatcore.ErrUnavailable) {
		t.Fatalf("send: want ErrUnavailable, got %v", res.Err)
	}
	if err := b.Stop(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{}); err == nil {
		t.Fatal("empty DSN accepted")
	}
}

func TestMigrateConcurrentAndIdempotent(t *testing.T) {
	const db = "chatgate_test_store_migrate"
	admin, err := pgx.Connect(ctxT(t), dsnWithDB(t, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctxT(t), "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)") }) //nolint:errcheck

	// Five instances start at once against a database that does not exist:
	// they race on CREATE DATABASE and on the advisory lock.
	dsn := dsnWithDB(t, db)
	var wg sync.WaitGroup
	errs := make([]error, 5)
	for i := range errs {
		s := newStore(t, Config{DSN: dsn, MaxConns: 2})
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Migrate(ctxT(t))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("migrate %d: %v", i, err)
		}
	}
	s := newStore(t, Config{DSN: dsn, MaxConns: 2})
	if err := s.Migrate(ctxT(t)); err != nil { // and once more, sequentially
		t.Fatal(err)
	}
	migs, _ := loadMigrations()
	var n int
	if err := s.pool.QueryRow(ctxT(t), "SELECT count(*) FROM schema_migrations").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(migs) {
		t.Fatalf("schema_migrations has %d rows, want %d", n, len(migs))
	}
	for _, idx := range []string{"idx_users_email", "idx_room_users_lookup", "idx_messages_user_client"} {
		var ok bool
		if err := s.pool.QueryRow(ctxT(t), "SELECT EXISTS (SELECT 1 FROM pg_indexes WHERE indexname = $1)", idx).Scan(&ok); err != nil || !ok {
			t.Fatalf("index %s missing (%v)", idx, err)
		}
	}
	// 0003 dropped the time index no query used: every insert paid for it.
	var gone bool
	if err := s.pool.QueryRow(ctxT(t), "SELECT NOT EXISTS (SELECT 1 FROM pg_indexes WHERE indexname = 'idx_messages_room_created')").Scan(&gone); err != nil || !gone {
		t.Fatalf("idx_messages_room_created still there (%v)", err)
	}
}

func TestStatementTimeout(t *testing.T) {
	s := newStore(t, Config{StatementTimeout: 100 * time.Millisecond, MaxConns: 1})
	start := time.Now()
	err := s.run(ctxT(t), "sleep", func(ctx context.Context) (int, error) {
		_, err := s.pool.Exec(ctx, "SELECT pg_sleep(3)")
		return 0, err
	})
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Fatalf("statement_timeout did not fire: %v", d)
	}
	if !errors.Is(err, chatcore.ErrUnavailable) || pgCode(err) != codeQueryCanceled {
		t.Fatalf("want wrapped ErrUnavailable with 57014, got %v", err)
	}
	// The server aborted the statement, the one connection survives.
	if err := s.Ping(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LastSeq(ctxT(t), -1); !errors.Is(err, chatcore.ErrNotFound) {
		t.Fatalf("pool broken after timeout: %v", err)
	}
	if st := s.Stats(); st.Total != 1 || st.Max != 1 {
		t.Fatalf("stats: %+v", st)
	}

	// The context deadline backstops the server-side timeout.
	s2 := newStore(t, Config{StatementTimeout: 5 * time.Second, QueryTimeout: 150 * time.Millisecond, MaxConns: 1})
	start = time.Now()
	err = s2.run(ctxT(t), "sleep", func(ctx context.Context) (int, error) {
		_, err := s2.pool.Exec(ctx, "SELECT pg_sleep(3)")
		return 0, err
	})
	if d := time.Since(start); d > 1500*time.Millisecond || !errors.Is(err, chatcore.ErrUnavailable) {
		t.Fatalf("query timeout: %v after %v", err, time.Since(start))
	}
	// That killed the connection; the pool replaces it (not through s2.run:
	// a fresh connect may take longer than the 150ms QueryTimeout on a busy box).
	if err := s2.pool.Ping(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

type recObserver struct {
	mu      sync.Mutex
	queries map[string]int
	batches int
}

func (o *recObserver) ObserveQuery(name string, d time.Duration, err error) {
	o.mu.Lock()
	o.queries[name]++
	o.mu.Unlock()
}

func (o *recObserver) ObserveBatch(size int, commit time.Duration) {
	o.mu.Lock()
	o.batches++
	o.mu.Unlock()
}

func TestObserverAndSlowLog(t *testing.T) {
	reset(t)
	core, logs := observer.New(zapcore.WarnLevel)
	obs := &recObserver{queries: map[string]int{}}
	s := newStore(t, Config{Observer: obs, Logger: zap.New(core), SlowQuery: time.Nanosecond})
	u := mkUser(t, s, "ann")
	r := mkRoom(t, s, u.ID, "r", false)
	b := s.NewBatcher(nil)
	b.Start()
	defer b.Stop(context.Background()) //nolint:errcheck
	if res := b.Send(ctxT(t), SendRequest{Room: r.ID, UserID: u.ID, Body: "hi", CID: "c1"}); res.Err != nil {
		t.Fatal(res.Err)
	}
	if _, _, err := s.History(ctxT(t), r.ID, 0, 10); err != nil {
		t.Fatal(err)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	for _, name := range []string{"create_user", "create_room", "batch_flush", "history_before"} {
		if obs.queries[name] == 0 {
			t.Errorf("observer did not see %q: %v", name, obs.queries)
		}
	}
	if obs.batches != 1 {
		t.Errorf("batches = %d", obs.batches)
	}
	slow := logs.FilterMessage("slow query").FilterField(zap.String("name", "history_before"))
	if slow.Len() != 1 {
		t.Fatalf("slow log: %v", logs.All())
	}
	if _, ok := slow.All()[0].ContextMap()["rows"]; !ok {
		t.Fatal("slow log lacks rows")
	}
}
