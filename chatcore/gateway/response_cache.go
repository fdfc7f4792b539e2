package gateway

import (
	"context"
	"strconv"
	"strings"
	"sync"

	"go.uber.org/zap"
)

// The response cache's glue: the API's writes bump the tags of the
// response caches (cachemw, in front of the API GETs) registered here, and
// its GETs name the tags they depend on.

type tagRef struct {
	inv  TagInvalidator
	refs int
}

// TagInvalidator is a response cache whose tags the API bumps on writes
// (cachemw.Cache is one).
type TagInvalidator interface {
	Invalidate(ctx context.Context, tags ...string) error
}

// tagAdvancer is a TagInvalidator whose tag versions can carry a seq
// (cachemw.Cache: Advance, Settle; cachemw.Sequencer says how).
type tagAdvancer interface {
	Advance(ctx context.Context, tags []string, seqs []int64) error
}

// AddTagInvalidator makes every write bump its response-cache tags in inv.
// Registrations are counted by name, so a reloaded config can register the
// same storage before the old one releases it; call release once.
func (c *Core) AddTagInvalidator(name string, inv TagInvalidator) (release func()) {
	k := c.caches()
	k.mu.Lock()
	if r, ok := k.tags[name]; ok {
		r.refs++
	} else {
		k.tags[name] = &tagRef{inv: inv, refs: 1}
	}
	k.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			k.mu.Lock()
			defer k.mu.Unlock()
			if r, ok := k.tags[name]; ok {
				if r.refs--; r.refs <= 0 {
					delete(k.tags, name)
				}
			}
		})
	}
}

// Response cache tags. A GET names what it depends on (Cache-Tags) and a
// write bumps what it changes:
//
//	room:R      room R's newest messages: posts (Advance: the version
//	            carries the room's last seq), joins, leaves
//	members:R   room R's info (stored part), member list, history pages
//	            and the newest page's stored part: joins, leaves
//	history:R   room R's history pages and the newest page's stored
//	            part: room events (edit, delete, reaction)
//	rooms:list  the room list's stored part (public rooms): rooms
//	            created, joins, leaves
//	user:U      U's profile and /api/me: U's read markers
//	users:dir   member directory pages: sign-ups
//	dms:U       U's direct messages: a DM opened with U
//
// Renames and topics bump members:R and rooms:list; a room's deletion
// bumps room:R, members:R and rooms:list (room_changes.go).
//
// Counters (last_seq, message_count) and the user's own part of the room
// list (joined, last_read_seq, unread_mentions, unread, private rooms) are
// not in stored entries: the cache composes them in per answer
// (rest_roomlist.go), from entity caches that posts, room events,
// membership changes, mentions and read markers drop.
func tagRoom(id int64) string    { return "room:" + strconv.FormatInt(id, 10) }
func tagMembers(id int64) string { return "members:" + strconv.FormatInt(id, 10) }
func tagUser(id int64) string    { return "user:" + strconv.FormatInt(id, 10) }

// tagHistory is room R's history pages below the newest and the newest
// page's stored part: room events (edit, delete, reaction) bump it, since
// they change messages on them.
func tagHistory(id int64) string { return "history:" + strconv.FormatInt(id, 10) }

const tagRoomList = "rooms:list"

// cacheTagsHeader must match cachemw.TagsHeader.
const cacheTagsHeader = "Cache-Tags"

func setTags(h interface{ Set(k, v string) }, tags ...string) {
	h.Set(cacheTagsHeader, strings.Join(tags, " "))
}

// bumpTags invalidates response-cache tags in every registered cache.
// Failures are logged, never returned: the write itself succeeded, and the
// cache invalidates everything once its storage is back.
func (k *caching) bumpTags(ctx context.Context, tags ...string) {
	for _, inv := range k.invalidators() {
		if err := inv.Invalidate(ctx, tags...); err != nil {
			k.core.log.Warn("gateway: response cache invalidation failed", zap.Strings("tags", tags), zap.Error(err))
		}
	}
}

// advanceTags moves seq-carrying tags to at least seqs in every registered
// cache (a plain bump where a cache keeps no seqs); failures as bumpTags.
func (k *caching) advanceTags(ctx context.Context, tags []string, seqs []int64) {
	for _, inv := range k.invalidators() {
		var err error
		if a, ok := inv.(tagAdvancer); ok {
			err = a.Advance(ctx, tags, seqs)
		} else {
			err = inv.Invalidate(ctx, tags...)
		}
		if err != nil {
			k.core.log.Warn("gateway: response cache invalidation failed", zap.Strings("tags", tags), zap.Error(err))
		}
	}
}

// invalidators are the registered response caches.
func (k *caching) invalidators() []TagInvalidator {
	k.mu.Lock()
	defer k.mu.Unlock()
	invs := make([]TagInvalidator, 0, len(k.tags))
	for _, r := range k.tags {
		invs = append(invs, r.inv)
	}
	return invs
}
