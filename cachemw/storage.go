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
	"strconv"
	"strings"
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

// Seq versions: a tag whose entries follow a counter (in Chatgate a room's
// newest messages, whose counter is the room's last seq) can carry it in
// its version, "s<seq>-<epoch mark>-<random>", so whoever reads the version
// knows the counter it stands for without another round trip, and every
// instance reading one version agrees on it. Random versions (NewVersion)
// are hex and never start with 's'.
//
// The epoch mark is the start of EpochTag's version when the seq was set:
// a seq counts only under the epoch it was set in. A write whose Advance
// was lost leaves a seq behind it; the cache bumps the epoch before it
// trusts the storage again (as for every lost bump), and that retires
// every seq at once.

// SeqVersion returns a fresh version that carries seq under epoch (the
// version of EpochTag).
func SeqVersion(seq int64, epoch string) string {
	return "s" + strconv.FormatInt(seq, 10) + "-" + epochMark(epoch) + "-" + NewVersion()
}

func epochMark(epoch string) string {
	if len(epoch) > 8 {
		epoch = epoch[:8]
	}
	if epoch == "" || strings.Contains(epoch, "-") {
		return "x"
	}
	return epoch
}

// VersionSeq returns the seq a version carries under epoch; false for a
// version that carries none (made by Bump, or by Lookup for a tag it found
// without one) or was set under another epoch.
func VersionSeq(v, epoch string) (int64, bool) {
	if len(v) < 2 || v[0] != 's' {
		return 0, false
	}
	num, rest, ok := strings.Cut(v[1:], "-")
	if !ok {
		return 0, false
	}
	mark, _, ok := strings.Cut(rest, "-")
	if !ok || mark != epochMark(epoch) {
		return 0, false
	}
	n, err := strconv.ParseInt(num, 10, 64)
	return n, err == nil && n >= 0
}

// Sequencer is a Storage that keeps seq versions. A seq version is only
// ever made from a value the caller proved (Settle) and then only moves up
// (Advance), so, under its epoch, it never stands for less than what was
// acknowledged:
//
//   - Advance(tags, seqs, epoch), after writes up to seqs: a seq version
//     below seq becomes SeqVersion(seq, epoch), one at or above it stays; a
//     tag with no seq version gets a fresh random one (a plain bump: it
//     never gains a seq here, where seq may come from a round delayed past
//     a later write).
//   - Settle(tag, old, seq, epoch): old becomes SeqVersion(seq, epoch) if
//     it is still the tag's version. The caller read seq after it read old
//     (and epoch): every write acknowledged before is in seq (its Advance
//     ran before old was read, and old carries at most what was written
//     then), and one acknowledged since would have replaced old, unless
//     old already carried its seq, which seq then covers.
type Sequencer interface {
	Advance(ctx context.Context, tags []string, seqs []int64, epoch string) error
	Settle(ctx context.Context, tag, old string, seq int64, epoch string) (bool, error)
}

// versionSeqAny is the seq a version carries under any epoch (Advance
// compares seqs whatever the epoch: a stale epoch is the reader's check).
func versionSeqAny(v string) (int64, bool) {
	if len(v) < 2 || v[0] != 's' {
		return 0, false
	}
	num, _, ok := strings.Cut(v[1:], "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(num, 10, 64)
	return n, err == nil && n >= 0
}

// advanceVersion is Advance's rule on one current version.
func advanceVersion(cur string, have bool, seq int64, epoch string) (string, bool) {
	if !have {
		return NewVersion(), true
	}
	n, ok := versionSeqAny(cur)
	if !ok {
		return NewVersion(), true
	}
	if n >= seq {
		return cur, false
	}
	return SeqVersion(seq, epoch), true
}
