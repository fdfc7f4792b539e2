// Package cachemw is a plain net/http response cache: GET and HEAD only, a
// TTL and a key recipe per route, per-user keys for private routes, tag
// invalidation by per-tag versions, singleflight on misses, and fail-open
// storage behind a short timeout and a circuit breaker. It knows nothing of
// Caddy or of the chat domain; caddymodule adapts it as `chat_cache`.
package cachemw

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"
)

// Storage holds encoded entries and tag versions. Implementations must be
// safe for concurrent use and must not retry for long: the cache wraps every
// call in a short deadline and treats any error as "storage unavailable".
type Storage interface {
	// Lookup returns the entry stored at key (nil when there is none) and
	// the current version of every tag, in one round trip where the backend
	// allows it. A tag without a version gets one (see NewVersion), so a
	// version is never empty: an entry is only ever valid under a version
	// that really existed, and a lost or expired version key can never make
	// an old entry valid again.
	Lookup(ctx context.Context, key string, tags []string) (entry []byte, versions []string, err error)
	// Store saves an entry for ttl.
	Store(ctx context.Context, key string, entry []byte, ttl time.Duration) error
	// Bump gives every tag a fresh version: each entry stored under an older
	// one stops matching. O(1) per tag, no key scans.
	Bump(ctx context.Context, tags []string) error
}

// NewVersion returns a fresh random tag version. Versions are random rather
// than counters so that a version key lost to eviction or a Redis restart,
// then recreated, can never repeat a value an old entry was stored under.
func NewVersion() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// TagTTL is how long a tag version lives without being bumped. It only has
// to outlive the entries stored under it; a version that expires is
// recreated with a new value, which merely turns old entries into misses.
const TagTTL = 48 * time.Hour

// EpochTag is implicitly attached to every entry. Bumping it invalidates the
// whole cache at once; the cache does so after it failed to bump a tag (a
// write whose invalidation was lost), as soon as the storage answers again.
const EpochTag = "*"
