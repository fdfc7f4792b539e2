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
	if a.local.Len() != 1 || b.local.Len() != 1 {
		t.Fatalf("local copies: a %d, b %d; want 1 each", a.local.Len(), b.local.Len())
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
	if c.local.Len() != 0 {
		t.Fatal("a forged body was kept")
	}

	// The entry's key decides: once it is gone, no copy is served.
	rdb.Del(ctx, a.entryKey("large"))
	if got, _, _ := a.Lookup(ctx, "large", nil); got != nil {
		t.Fatal("an entry whose key is gone was served from the local copy")
	}
}

// A body over a quarter of the local bound is served but not kept (one
// entry may not flush most of the others), and a copy handed out cannot be
// written through by an append.
func TestRedisLocalCopies(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := sharedRedis(t), testPrefix(t)
	s := NewRedis(rdb, prefix)
	huge := append([]byte{entryMagic}, bytes.Repeat([]byte("H"), localBodyBytes/4+1)...)
	if err := s.Store(ctx, "huge", huge, time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, _, err := s.Lookup(ctx, "huge", nil); err != nil || !bytes.Equal(got, huge) {
		t.Fatalf("lookup of a huge entry: %d bytes, %v", len(got), err)
	}
	if s.local.Len() != 0 {
		t.Fatal("an entry over a quarter of the bound was kept")
	}
	large := append([]byte{entryMagic}, bytes.Repeat([]byte("L"), 2*refMin)...)
	if err := s.Store(ctx, "large", large, time.Minute); err != nil {
		t.Fatal(err)
	}
	got, _, _ := s.Lookup(ctx, "large", nil)
	_ = append(got, 1)
	if again, _, _ := s.Lookup(ctx, "large", nil); len(again) != len(large) || cap(again) != len(large) || !bytes.Equal(again, large) {
		t.Fatalf("an append changed the copy: len %d cap %d", len(again), cap(again))
	}
}
