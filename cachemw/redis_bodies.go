package cachemw

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Large entries are stored by content. The entry key holds a reference
// (refMagic and the SHA-256 of the entry) and <prefix>b:<sha> holds the
// entry itself; an instance keeps the entries it has read in a Memory
// storage keyed by hash (Redis.local), so a hit on a large entry (a room
// list of hundreds of rooms is ~100 KB) reads a few dozen bytes from Redis
// instead of the whole entry. A hash names one content for ever, so a local copy
// can never be stale: what makes an entry valid is still the reference
// under its key and the tag versions, read on every lookup as before.
const (
	// refMin is the size from which an entry is stored by reference:
	// below it the second key and the local copy cost more than they save.
	refMin = 8 << 10
	// refMagic starts a reference; an encoded entry starts with entryMagic.
	refMagic = 0xC2
	// localBodyBytes bounds the local copies per storage (the sum of their
	// sizes, as Memory counts them); an entry over a quarter of it is not
	// kept, so one entry cannot flush most of the others.
	localBodyBytes = 32 << 20
	// localBodyTTL is how long a copy read from Redis is kept (a stored one
	// is kept for its entry's TTL): its content never changes, this only
	// frees the memory of copies no entry names any more.
	localBodyTTL = 10 * time.Minute
)

func (s *Redis) bodyKey(sum string) string { return s.prefix + "b:" + sum }

// ref is what the entry key holds for a large entry.
func ref(sum string) []byte { return append([]byte{refMagic}, sum...) }

// resolve turns what an entry key held into the entry: itself, or for a
// reference the local copy, else the body key's value (then kept). A body
// gone from Redis (evicted, expired first) is a miss.
func (s *Redis) resolve(ctx context.Context, raw []byte) ([]byte, error) {
	if len(raw) == 0 || raw[0] != refMagic {
		return raw, nil
	}
	sum := string(raw[1:])
	if b, _, _ := s.local.Lookup(ctx, sum, nil); b != nil {
		return b[:len(b):len(b)], nil // an append reallocates: the copy is shared
	}
	b, err := s.rdb.Get(ctx, s.bodyKey(sum)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cachemw: redis get body: %w", err)
	}
	if got := sha256.Sum256(b); hex.EncodeToString(got[:]) != sum {
		return nil, nil // not what the reference names: a miss, never served
	}
	s.keep(ctx, sum, b, localBodyTTL)
	return b[:len(b):len(b)], nil
}

// storeByRef stores a large entry: the body first, then the reference, so
// a reference is never readable before its body.
func (s *Redis) storeByRef(ctx context.Context, key string, entry []byte, ttl time.Duration) error {
	h := sha256.Sum256(entry)
	sum := hex.EncodeToString(h[:])
	if err := s.rdb.Set(ctx, s.bodyKey(sum), entry, ttl).Err(); err != nil {
		return fmt.Errorf("cachemw: redis set body: %w", err)
	}
	if err := s.rdb.Set(ctx, s.entryKey(key), ref(sum), ttl).Err(); err != nil {
		return fmt.Errorf("cachemw: redis set: %w", err)
	}
	s.keep(ctx, sum, entry, ttl)
	return nil
}

// keep stores a local copy of a body unless it is over a quarter of the
// bound.
func (s *Redis) keep(ctx context.Context, sum string, body []byte, ttl time.Duration) {
	if len(body) <= localBodyBytes/4 {
		_ = s.local.Store(ctx, sum, body, ttl) // Memory never fails
	}
}
