package cachemw

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// A large entry is stored by content: the entry key holds a reference, a
// second instance reads the body from Redis once and then from its own
// copy, a body gone from Redis is a miss for an instance without a copy,
// and a body that does not hash to its name is never returned.
func TestRedisLargeEntriesByReference(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := sharedRedis(t), testPrefix(t)
	a, b := NewRedis(rdb, prefix), NewRedis(rdb, prefix)

	small := append([]byte{entryMagic}, bytes.Repeat([]byte("s"), 100)...)
	if err := a.Store(ctx, "small", small, time.Minute); err != nil {
		t.Fatal(err)
	}
	if raw, _ := rdb.Get(ctx, a.entryKey("small")).Bytes(); !bytes.Equal(raw, small) {
		t.Fatalf("a small entry is stored as itself, got %d bytes", len(raw))
	}

	large := append([]byte{entryMagic}, bytes.Repeat([]byte("L"), 3*refMin)...)
	if err := a.Store(ctx, "large", large, time.Minute); err != nil {
		t.Fatal(err)
	}
	raw, _ := rdb.Get(ctx, a.entryKey("large")).Bytes()
	if len(raw) != 65 || raw[0] != refMagic {
		t.Fatalf("a large entry's key holds a reference (65 bytes), got %d bytes", len(raw))
	}
	sum := string(raw[1:])
	for _, s := range []*Redis{a, b} {
		got, _, err := s.Lookup(ctx, "large", nil)
		if err != nil || !bytes.Equal(got, large) {
			t.Fatalf("lookup: %d bytes, %v; want the entry", len(got), err)
		}
	}
	if a.local.len() != 1 || b.local.len() != 1 {
		t.Fatalf("local copies: a %d, b %d; want 1 each", a.local.len(), b.local.len())
	}

	// The body goes from Redis: instances with a copy still serve the
	// entry (same content, same reference), a third one misses.
	rdb.Del(ctx, a.bodyKey(sum))
	if got, _, _ := b.Lookup(ctx, "large", nil); !bytes.Equal(got, large) {
		t.Fatal("b lost its copy")
	}
	c := NewRedis(rdb, prefix)
	if got, _, err := c.Lookup(ctx, "large", nil); err != nil || got != nil {
		t.Fatalf("a reference without its body: %d bytes, %v; want a miss", len(got), err)
	}

	// A body that is not what its hash names is a miss, and is not kept.
	rdb.Set(ctx, a.bodyKey(sum), []byte("forged"), time.Minute)
	if got, _, err := c.Lookup(ctx, "large", nil); err != nil || got != nil {
		t.Fatalf("a forged body: %q, %v; want a miss", got, err)
	}
	if c.local.len() != 0 {
		t.Fatal("a forged body was kept")
	}

	// The entry's key decides: once it is gone, no copy is served.
	rdb.Del(ctx, a.entryKey("large"))
	if got, _, _ := a.Lookup(ctx, "large", nil); got != nil {
		t.Fatal("an entry whose key is gone was served from the local copy")
	}
}

// The local copies are bounded by their total size, the oldest go first,
// and a copy handed out cannot be written through by an append.
func TestBodyLRUBound(t *testing.T) {
	l := newBodyLRU(100)
	l.put("a", make([]byte, 20))
	l.put("b", make([]byte, 20))
	l.put("big", make([]byte, 30)) // over a quarter of the bound: not kept
	if _, ok := l.get("big"); ok {
		t.Fatal("an entry over a quarter of the bound was kept")
	}
	for _, k := range []string{"c", "d", "e"} {
		l.put(k, make([]byte, 20))
	}
	l.get("a") // a is used: b is now the oldest
	l.put("f", make([]byte, 20))
	if _, ok := l.get("b"); ok {
		t.Fatal("the least recently used copy survived")
	}
	got, ok := l.get("a")
	if !ok || l.bytes > 100 {
		t.Fatalf("a kept: %v, bytes %d (bound 100)", ok, l.bytes)
	}
	_ = append(got, 1)
	if again, _ := l.get("a"); len(again) != 20 || cap(again) != 20 {
		t.Fatalf("an append changed the copy: len %d cap %d", len(again), cap(again))
	}
}
