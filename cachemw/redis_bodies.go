package cachemw

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Large entries are stored by content. The entry key holds a reference
// (refMagic and the SHA-256 of the entry) and <prefix>b:<sha> holds the
// entry itself; an instance keeps the entries it has read in a local LRU
// by hash (localBodies), so a hit on a large entry (a room list of
// hundreds of rooms is ~100 KB) reads a few dozen bytes from Redis instead
// of the whole entry. A hash names one content for ever, so a local copy
// can never be stale: what makes an entry valid is still the reference
// under its key and the tag versions, read on every lookup as before.
const (
	// refMin is the size from which an entry is stored by reference:
	// below it the second key and the local copy cost more than they save.
	refMin = 8 << 10
	// refMagic starts a reference; an encoded entry starts with entryMagic.
	refMagic = 0xC2
	// localBodyBytes bounds the local copies per process (the sum of their
	// sizes).
	localBodyBytes = 32 << 20
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
	if b, ok := s.local.get(sum); ok {
		return b, nil
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
	s.local.put(sum, b)
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
	s.local.put(sum, entry)
	return nil
}

// bodyLRU is the local copies of large entries by hash, bounded by their
// total size.
type bodyLRU struct {
	max int

	mu    sync.Mutex
	bytes int
	ll    *list.List
	m     map[string]*list.Element
}

type bodyItem struct {
	sum  string
	body []byte
}

func newBodyLRU(max int) *bodyLRU {
	return &bodyLRU{max: max, ll: list.New(), m: make(map[string]*list.Element)}
}

func (l *bodyLRU) get(sum string) ([]byte, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.m[sum]
	if !ok {
		return nil, false
	}
	l.ll.MoveToFront(el)
	b := el.Value.(*bodyItem).body
	// Full slice: a caller's append reallocates instead of writing into
	// the shared copy.
	return b[:len(b):len(b)], true
}

func (l *bodyLRU) put(sum string, body []byte) {
	if len(body) > l.max/4 {
		return // one entry may not flush most of the others
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.m[sum]; ok {
		l.ll.MoveToFront(el)
		return
	}
	l.m[sum] = l.ll.PushFront(&bodyItem{sum: sum, body: body})
	l.bytes += len(body)
	for l.bytes > l.max {
		last := l.ll.Back()
		it := last.Value.(*bodyItem)
		l.ll.Remove(last)
		delete(l.m, it.sum)
		l.bytes -= len(it.body)
	}
}

// len is the number of local copies (tests).
func (l *bodyLRU) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ll.Len()
}
