package store

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/chatgate/chatgate/chatcore"
)

// TestClassifyInputCaused: every SQLSTATE a value in a request can cause is
// chatcore.ErrInvalidInput (a 400), not unavailable; the mapped 23xxx keep
// their meaning.
func TestClassifyInputCaused(t *testing.T) {
	for code, want := range map[string]error{
		"22021": chatcore.ErrInvalidInput, // character_not_in_repertoire (NUL)
		"22P05": chatcore.ErrInvalidInput, // untranslatable_character
		"22001": chatcore.ErrInvalidInput, // string_data_right_truncation
		"22003": chatcore.ErrInvalidInput, // numeric_value_out_of_range
		"23502": chatcore.ErrInvalidInput, // not_null_violation
		"23514": chatcore.ErrInvalidInput, // check_violation
		"54000": chatcore.ErrInvalidInput, // program_limit_exceeded (index row too large)
		"23505": chatcore.ErrConflict,
		"23P01": chatcore.ErrConflict,
		"23503": chatcore.ErrNotFound,
		"57014": chatcore.ErrUnavailable,
		"08006": chatcore.ErrUnavailable,
	} {
		err := wrapErr("q", context.Background(), &pgconn.PgError{Code: code})
		if !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", code, err, want)
		}
	}
	if got := classify(&pgconn.PgError{Code: "42601"}); got != nil { // a bug in our SQL stays a bug
		t.Errorf("syntax error classified as %v", got)
	}
}

// TestInputErrorsAreInvalid runs real statements with values Postgres
// refuses: each is ErrInvalidInput, and the pool still works.
func TestInputErrorsAreInvalid(t *testing.T) {
	reset(t)
	s := testStore
	u := mkUser(t, s, "ann")
	if _, err := s.CreateRoom(ctxT(t), u.ID, "nul\x00room", false); !errors.Is(err, chatcore.ErrInvalidInput) {
		t.Fatalf("NUL in a room name: %v", err)
	}
	if _, err := s.CreateUser(ctxT(t), "nul\x00", "x@example.org", "h"); !errors.Is(err, chatcore.ErrInvalidInput) {
		t.Fatalf("NUL in a user name: %v", err)
	}
	if _, err := s.UserByEmail(ctxT(t), "a\x00@example.org"); !errors.Is(err, chatcore.ErrInvalidInput) {
		t.Fatalf("NUL in a login email: %v", err)
	}
	// An index row over the btree limit (about 2.7 kB): 54000.
	if _, err := s.CreateUser(ctxT(t), "long", incompressible(8000)+"@example.org", "h"); !errors.Is(err, chatcore.ErrInvalidInput) {
		t.Fatalf("oversize email: %v", err)
	}
	if _, err := s.UserByID(ctxT(t), u.ID); err != nil {
		t.Fatalf("after refused input: %v", err)
	}
}

// TestBatcherIsolatesInvalidInput: a message Postgres refuses in a batch
// fails alone with ErrInvalidInput; the rest of its flush is stored.
func TestBatcherIsolatesInvalidInput(t *testing.T) {
	reset(t)
	u := mkUser(t, testStore, "ann")
	r := mkRoom(t, testStore, u.ID, "r", false)
	b := testStore.NewBatcher(nil)     // what was committed is checked by seq below
	defer b.Stop(context.Background()) //nolint:errcheck
	// Submit refuses NUL itself (ErrInvalidText, also invalid input); a
	// client id too long for its index gets as far as Postgres (54000).
	if err := b.Submit(SendRequest{Room: r.ID, UserID: u.ID, Body: "nul \x00"}, func(SendResult) {}); !errors.Is(err, chatcore.ErrInvalidInput) {
		t.Fatalf("NUL body: %v", err)
	}
	res := submitAll(t, b, []SendRequest{
		{Room: r.ID, UserID: u.ID, Body: "ok 1", CID: "1"},
		{Room: r.ID, UserID: u.ID, Body: "long cid", CID: incompressible(8000)},
		{Room: r.ID, UserID: u.ID, Body: "ok 2", CID: "3"},
	})
	if !errors.Is(res[1].Err, chatcore.ErrInvalidInput) {
		t.Fatalf("bad message: %+v", res[1])
	}
	if res[0].Err != nil || res[2].Err != nil || res[0].Msg.Seq != 1 || res[2].Msg.Seq != 2 {
		t.Fatalf("good messages: %+v, %+v", res[0], res[2])
	}
}

// TestNormEmail: case and Unicode normalization, so look-alike addresses
// are one account.
func TestNormEmail(t *testing.T) {
	for in, want := range map[string]string{
		" Ann@Example.ORG ":  "ann@example.org",
		"jos\u00e9@x.org":    "jos\u00e9@x.org",
		"jose\u0301@x.org":   "jos\u00e9@x.org",
		"JOSE\u0301@X.ORG":   "jos\u00e9@x.org",
		"\u00c5ngstr@x.org":  "\u00e5ngstr@x.org",
		"A\u030angstr@x.org": "\u00e5ngstr@x.org",
		"\u212bngstr@x.org":  "\u00e5ngstr@x.org", // the Ångström sign
		"plain@example.test": "plain@example.test",
	} {
		if got := NormEmail(in); got != want {
			t.Errorf("NormEmail(%+q) = %+q, want %+q", in, got, want)
		}
	}
	reset(t)
	if _, err := testStore.CreateUser(ctxT(t), "a", "jos\u00e9@x.org", "h"); err != nil {
		t.Fatal(err)
	}
	if _, err := testStore.CreateUser(ctxT(t), "b", "JOSE\u0301@x.org", "h"); !errors.Is(err, chatcore.ErrConflict) {
		t.Fatalf("decomposed twin: %v, want conflict", err)
	}
	if u, err := testStore.UserByEmail(ctxT(t), "jose\u0301@X.org"); err != nil || u.Name != "a" {
		t.Fatalf("lookup by the decomposed form: %+v %v", u, err)
	}
}

// TestMigrationEmailNFC runs migration 0002 on rows stored before it: a
// decomposed address becomes NFC (and signs in), a twin whose NFC form is
// taken is left alone.
func TestMigrationEmailNFC(t *testing.T) {
	reset(t)
	ctx := ctxT(t)
	if _, err := testStore.pool.Exec(ctx, `INSERT INTO users (name, email, password_hash) VALUES
		('old', U&'zoe\0308@x.org', 'h'), ('nfc', U&'jos\00E9@x.org', 'h'), ('twin', U&'jose\0301@x.org', 'h'),
		('first', U&'ane\0301@x.org', 'h')`); err != nil {
		t.Fatal(err)
	}
	var sql string
	for _, m := range mustMigrations(t) {
		if m.version == 2 {
			sql = m.sql
		}
	}
	if sql == "" {
		t.Fatal("no migration 0002")
	}
	if _, err := testStore.pool.Exec(ctx, sql); err != nil {
		t.Fatal(err)
	}
	for email, name := range map[string]string{"zo\u00eb@x.org": "old", "jos\u00e9@x.org": "nfc", "an\u00e9@x.org": "first"} {
		if u, err := testStore.UserByEmail(ctx, email); err != nil || u.Name != name {
			t.Errorf("%+q: %+v %v, want %s", email, u, err, name)
		}
	}
	var twin string
	if err := testStore.pool.QueryRow(ctx, "SELECT email FROM users WHERE name = 'twin'").Scan(&twin); err != nil || twin != "jose\u0301@x.org" {
		t.Fatalf("twin: %+q %v", twin, err)
	}
}

// incompressible is n bytes of letters Postgres cannot compress below its
// btree row limit.
func incompressible(n int) string {
	var b strings.Builder
	x := uint32(2463534242)
	for b.Len() < n {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b.WriteByte('a' + byte(x%26))
	}
	return b.String()
}

func mustMigrations(t *testing.T) []migration {
	t.Helper()
	m, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	return m
}
