package gateway

import (
	"context"
	"regexp"
	"testing"

	"github.com/chatgate/chatgate/chatcore/store"
)

func mustPrefix(t *testing.T, dsn string) string {
	t.Helper()
	p, err := DefaultRedisPrefix(dsn)
	if err != nil {
		t.Fatalf("%s: %v", dsn, err)
	}
	if err := CheckRedisPrefix(p); err != nil {
		t.Fatalf("%s: default prefix %q: %v", dsn, p, err)
	}
	return p
}

func TestDefaultRedisPrefix(t *testing.T) {
	base := "postgres://postgres@127.0.0.1:5432/chatgate?sslmode=disable"
	p := mustPrefix(t, base)
	if !regexp.MustCompile(`^chatgate:chatgate-[0-9a-f]{12}:$`).MatchString(p) {
		t.Fatalf("prefix %q, want chatgate:chatgate-<12 hex>:", p)
	}
	// Another login to the same database: the same deployment.
	for _, same := range []string{
		"postgres://app:secret@127.0.0.1:5432/chatgate?sslmode=require&pool_max_conns=4",
		"postgres://postgres@127.0.0.1/chatgate", // default port
		"host=127.0.0.1 port=5432 dbname=chatgate user=other sslmode=disable",
	} {
		if got := mustPrefix(t, same); got != p {
			t.Errorf("%s: %q, want %q as for %s", same, got, p, base)
		}
	}
	// Another database, or the same name elsewhere: another deployment.
	seen := map[string]string{p: base}
	for _, other := range []string{
		"postgres://postgres@127.0.0.1:5432/chatgate_b?sslmode=disable",
		"postgres://postgres@127.0.0.1:5433/chatgate?sslmode=disable",
		"postgres://postgres@10.0.0.7:5432/chatgate?sslmode=disable",
		"postgres://postgres@127.0.0.1:5432/other?sslmode=disable",
	} {
		got := mustPrefix(t, other)
		if prev, ok := seen[got]; ok {
			t.Errorf("%s and %s share the prefix %q", other, prev, got)
		}
		seen[got] = other
	}
	// A host list is one database whatever its order; host names are not
	// case-sensitive.
	a := mustPrefix(t, "postgres://u@db1:5432,DB2:5433/chat")
	if b := mustPrefix(t, "postgres://u@db2:5433,db1:5432/chat"); a != b {
		t.Errorf("host order changed the prefix: %q vs %q", a, b)
	}
	// Characters that mean something to Redis never reach the prefix.
	w := mustPrefix(t, "host=127.0.0.1 dbname='we{ir}d*na?me[1]'")
	if !regexp.MustCompile(`^chatgate:we_ir_d_na_me_1_-[0-9a-f]{12}:$`).MatchString(w) {
		t.Errorf("prefix %q", w)
	}
	if _, err := DefaultRedisPrefix("postgres://u@host:notaport/db"); err == nil {
		t.Error("bad dsn accepted")
	}
}

func TestCheckRedisPrefix(t *testing.T) {
	for _, bad := range []string{"", "chat:{x}:", "a{", "}"} {
		if CheckRedisPrefix(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if err := CheckRedisPrefix("chat:prod:"); err != nil {
		t.Error(err)
	}
}

// New takes an explicit prefix as it is, derives one when it is empty,
// and refuses one that would break the cluster hash tags. It does no I/O.
func TestNewRedisPrefix(t *testing.T) {
	dsn := "postgres://postgres@127.0.0.1:1/nowhere?sslmode=disable"
	for _, tc := range []struct{ set, want string }{
		{"chat:prod:", "chat:prod:"},
		{"", mustPrefix(t, dsn)},
	} {
		c, err := New(Config{Store: store.Config{DSN: dsn}, Secret: []byte("prefix-test-secret-0123456789"), RedisPrefix: tc.set})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.RedisPrefix(); got != tc.want {
			t.Errorf("set %q: prefix %q, want %q", tc.set, got, tc.want)
		}
		_ = c.Stop(context.Background())
	}
	if _, err := New(Config{Store: store.Config{DSN: dsn}, RedisPrefix: "chat:{x}:"}); err == nil {
		t.Error("a prefix with a hash tag accepted")
	}
}
