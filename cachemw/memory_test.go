package cachemw

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// The memory storage is bounded: its entries (keys and bookkeeping
// counted, not only bodies) and its tag versions. Issue 14's soak relies on
// it: a bounded cache plateaus.
func TestMemoryBounded(t *testing.T) {
	ctx := context.Background()
	const max = 1 << 20
	m := NewMemory(max)
	body := make([]byte, 100)
	for i := range 100_000 {
		key := fmt.Sprintf("chat_cache:history:%08d:before=%d", i, i)
		if err := m.Store(ctx, key, body, time.Minute); err != nil {
			t.Fatal(err)
		}
		if m.Bytes() > max {
			t.Fatalf("after %d stores: %d bytes held, bound %d", i+1, m.Bytes(), max)
		}
	}
	per := len("chat_cache:history:00000000:before=0") + len(body) + memEntryOverhead
	if n := m.Len(); n > max/per+1 || n < max/(per+8)-1 {
		t.Fatalf("%d entries of ~%d bytes in %d", n, per, max)
	}
	// The newest entries are the ones kept.
	if v, _, _ := m.Lookup(ctx, "chat_cache:history:00099999:before=99999", nil); v == nil {
		t.Fatal("newest entry evicted")
	}
	if v, _, _ := m.Lookup(ctx, "chat_cache:history:00000000:before=0", nil); v != nil {
		t.Fatal("oldest entry kept")
	}

	// Tag versions: one per tag ever seen, up to the bound.
	for i := range 3 * memMaxVersions {
		if i%2 == 0 {
			_, _, _ = m.Lookup(ctx, "k", []string{fmt.Sprintf("user:%d", i)})
		} else {
			_ = m.Bump(ctx, []string{fmt.Sprintf("room:%d", i)})
		}
		if m.Versions() > memMaxVersions {
			t.Fatalf("after %d tags: %d versions", i+1, m.Versions())
		}
	}
	// A forgotten version is a new version: an entry stored under the old
	// one no longer matches (a miss, never a stale hit).
	_, v1, _ := m.Lookup(ctx, "k", []string{"members:1"})
	for i := range memMaxVersions {
		_, _, _ = m.Lookup(ctx, "k", []string{fmt.Sprintf("x:%d", i)})
	}
	_, v2, _ := m.Lookup(ctx, "k", []string{"members:1"})
	if v1[0] == v2[0] {
		t.Fatal("a version forgotten and made again must differ")
	}
}
