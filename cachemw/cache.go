package cachemw

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/chatgate/chatgate/chatcore/breaker"
)

// Storage breaker states (chatcore/breaker), also the values of the
// breaker-state metric. While open, requests skip the storage entirely, so
// a dead Redis costs nothing per request.
const (
	BreakerClosed   = int(breaker.Closed)
	BreakerOpen     = int(breaker.Open)
	BreakerHalfOpen = int(breaker.HalfOpen)
)

// Response headers the cache sets.
const (
	// XCacheHeader is HIT, MISS or BYPASS.
	XCacheHeader = "X-Cache"
	// StatusHeader is the RFC 9211 Cache-Status field.
	StatusHeader = "Cache-Status"
	// TagsHeader is how a handler names the tags its response depends on
	// (space or comma separated). A response naming a tag its route did not
	// declare is not stored: see Route.Tags for why tags must be known before
	// the handler runs.
	TagsHeader = "Cache-Tags"
)

// Results reported to the Observer.
const (
	ResultHit    = "hit"
	ResultMiss   = "miss"
	ResultBypass = "bypass"
)

// Observer receives the cache's measurements (Prometheus in Chatgate).
type Observer interface {
	// Request counts one request by route name and result.
	Request(route, result string)
	// Storage times one storage call: lookup, store or bump.
	Storage(op string, d time.Duration, err error)
	// Breaker reports a breaker state change (BreakerClosed, ...).
	Breaker(state int)
}

type nopObserver struct{}

func (nopObserver) Request(string, string)               {}
func (nopObserver) Storage(string, time.Duration, error) {}
func (nopObserver) Breaker(int)                          {}

// Config configures a Cache. Zero values pick the defaults.
type Config struct {
	// Storage is required.
	Storage Storage
	// Name is the cache's name in Cache-Status ("chatgate").
	Name string
	// Timeout bounds every storage call (25ms). A slower storage counts as
	// down: the request is served from the origin with X-Cache: BYPASS.
	Timeout time.Duration
	// BreakerThreshold consecutive failures open the breaker (5) for
	// BreakerCooldown (1s); then one probe decides.
	BreakerThreshold int
	BreakerCooldown  time.Duration
	// Identify returns the authenticated identity of a request, for private
	// routes; ok=false means anonymous (the request bypasses the cache).
	Identify func(r *http.Request) (id string, ok bool)
	// Observer receives metrics; nil discards them.
	Observer Observer
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// Route is the caching policy of one route.
type Route struct {
	// Name labels the route in metrics (keep it low-cardinality).
	Name string
	// TTL is how long a stored response is served (required, > 0).
	TTL time.Duration
	// VaryQuery names the query parameters that are part of the key. Nil
	// means every parameter (the safe default); an empty non-nil slice
	// means none.
	VaryQuery []string
	// VaryHeader names request headers that are part of the key. A
	// response whose Vary names a header outside this list is not stored.
	VaryHeader []string
	// Private keys entries by Config.Identify's identity and bypasses
	// anonymous requests, so one user's response never reaches another.
	Private bool
	// Tags returns the tags a request's response depends on. They must be
	// known before the handler runs: the cache reads their versions first,
	// so a write that bumps a tag while the handler is still reading the old
	// data leaves an entry that no longer matches. Reading versions after
	// the handler would store stale data under the new version.
	Tags func(r *http.Request, id string) []string
	// MaxSize is the largest body stored (1 MiB); bigger responses stream
	// through uncached.
	MaxSize int
	// Identify, when set, replaces Config.Identify for this route.
	Identify func(r *http.Request) (id string, ok bool)
	// Shared, on a private route, lets every identity it admits share one
	// entry: the key leaves the identity out, and Shared decides for each
	// request, before the lookup, whether id may be served it (in Chatgate:
	// is id a member of the room). A refused request bypasses the cache, so
	// the handler answers it. Its Tags must not depend on the identity.
	Shared func(r *http.Request, id string) bool
	// Compose, when set, builds every 200 answer from the stored part: the
	// entry holds what many requests share (one room list for everyone,
	// a room without its message counters, a room's newest messages as
	// they were) and Compose adds, per request, what must not be stored
	// (the user's own part, counters that move with every message, the
	// messages since), so an entry need not be dropped when only those
	// change. It returns the answer and its ETag (empty: computed over the
	// answer). On an error the request goes to the origin unchanged (the
	// full answer, not the stored part).
	Compose func(r *http.Request, p Part) (body []byte, etag string, err error)
	// ComposeTags, with Compose, names tags whose current versions Compose
	// needs (Part.Versions): read in the lookup's round trip, but not
	// part of the entry's freshness, so bumping them drops nothing.
	ComposeTags func(r *http.Request, id string) []string
	// Origin, with Compose, rewrites the request the origin sees when it
	// fills an entry, so it answers with the part to store (in Chatgate a
	// context mark the API reads). Requests that bypass the cache reach the
	// origin unchanged and get the full answer.
	Origin func(r *http.Request) *http.Request
}

// Part is what Route.Compose builds an answer from.
type Part struct {
	// ID is the request's identity (empty on public routes).
	ID string
	// Body and ETag are the stored part's.
	Body []byte
	ETag string
	// Versions are the current versions of the route's ComposeTags, in
	// their order, read with the entry, and Epoch EpochTag's.
	Versions []string
	Epoch    string
}

// Seq is the seq that compose tag i's version carries (see Sequencer);
// false when it carries none valid under the epoch read with it.
func (p Part) Seq(i int) (int64, bool) {
	if i < 0 || i >= len(p.Versions) {
		return 0, false
	}
	return VersionSeq(p.Versions[i], p.Epoch)
}

// sharedID stands for every admitted identity in a shared route's key; no
// identity starts with '*'.
const sharedID = "*shared"

// Next is the handler behind the cache, in the error-returning style Caddy
// uses; Middleware adapts a plain http.Handler.
type Next func(w http.ResponseWriter, r *http.Request) error

// Cache is a response cache over one Storage, shared by many routes.
type Cache struct {
	cfg     Config
	obs     Observer
	now     func() time.Time
	breaker *breaker.Breaker
	sf      singleflight.Group
	// dirty is set when a bump could not be made: some entry may now be
	// stale, so the whole cache is invalidated (EpochTag) before the
	// storage is trusted again.
	dirty atomic.Bool

	recentMu sync.Mutex
	recent   map[string]*filled

	// epoch is the version of EpochTag the last composing lookup read:
	// what Advance sets seqs under (string).
	epoch atomic.Value
}

// New returns a cache. It does no I/O.
func New(cfg Config) (*Cache, error) {
	if cfg.Storage == nil {
		return nil, errors.New("cachemw: no storage")
	}
	if cfg.Name == "" {
		cfg.Name = "chatgate"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 25 * time.Millisecond
	}
	if cfg.BreakerThreshold <= 0 {
		cfg.BreakerThreshold = 5
	}
	if cfg.BreakerCooldown <= 0 {
		cfg.BreakerCooldown = time.Second
	}
	c := &Cache{cfg: cfg, obs: cfg.Observer, now: cfg.Now}
	if c.obs == nil {
		c.obs = nopObserver{}
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.breaker = &breaker.Breaker{Threshold: cfg.BreakerThreshold, Cooldown: cfg.BreakerCooldown, Now: c.now,
		OnChange: func(s breaker.State) { c.obs.Breaker(int(s)) }}
	return c, nil
}

// BreakerState is the storage breaker's state (BreakerClosed, ...).
func (c *Cache) BreakerState() int { return int(c.breaker.State()) }

// Middleware wraps next with the cache policy rt.
func (c *Cache) Middleware(rt Route, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = c.Serve(w, r, &rt, func(w http.ResponseWriter, r *http.Request) error {
			next.ServeHTTP(w, r)
			return nil
		})
	})
}

// Invalidate bumps tags: every entry that depends on one of them is stale
// from now on, on every instance sharing the storage. A failure is returned
// for logging, and also remembered: the whole cache is invalidated as soon
// as the storage answers again, so a lost bump cannot leave stale entries.
func (c *Cache) Invalidate(ctx context.Context, tags ...string) error {
	if len(tags) == 0 {
		return nil
	}
	if !c.breaker.Allow() {
		c.dirty.Store(true)
		return errors.New("cachemw: storage unavailable (breaker open), invalidation deferred")
	}
	if err := c.bump(ctx, tags); err != nil {
		c.dirty.Store(true)
		return err
	}
	return nil
}

// Advance moves seq-carrying tags (see Sequencer) to at least seqs: what
// Invalidate is for a tag whose versions carry a counter. On a storage
// that keeps no seq versions it is Invalidate.
func (c *Cache) Advance(ctx context.Context, tags []string, seqs []int64) error {
	sq, ok := c.cfg.Storage.(Sequencer)
	if !ok {
		return c.Invalidate(ctx, tags...)
	}
	if len(tags) == 0 {
		return nil
	}
	if !c.breaker.Allow() {
		c.dirty.Store(true)
		return errors.New("cachemw: storage unavailable (breaker open), invalidation deferred")
	}
	// A lost advance costs more than a slow one (every instance may serve
	// the old seq until this one's storage answers again, then the whole
	// cache goes), and writers wait for it, not readers: one retry, each
	// try with four times the lookup timeout.
	var err error
	for try := 0; try < 2; try++ {
		if err = c.advance(ctx, sq, tags, seqs); err == nil {
			break
		}
	}
	c.breaker.Done(err)
	if err != nil {
		c.dirty.Store(true)
	}
	return err
}

func (c *Cache) advance(ctx context.Context, sq Sequencer, tags []string, seqs []int64) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 4*c.cfg.Timeout)
	defer cancel()
	start := time.Now()
	// The epoch the seqs are set under: the last one a lookup read (an
	// epoch bump since only retires them early: readers then ask the
	// database), else read now.
	epoch, _ := c.epoch.Load().(string)
	var err error
	if epoch == "" {
		var vs []string
		if _, vs, err = c.cfg.Storage.Lookup(ctx, epochProbe, []string{EpochTag}); err == nil {
			epoch = vs[0]
		}
	}
	if err == nil {
		err = sq.Advance(ctx, tags, seqs, epoch)
	}
	c.obs.Storage("bump", time.Since(start), err)
	return err
}

// epochProbe is the key Advance looks up to read the epoch: no entry is
// ever stored under it (keys are hex).
const epochProbe = "-"

// Settle gives tag, whose version old and the epoch were read with an
// entry, the seq version of seq under that epoch, seq read after them (see
// Sequencer). false when old is not current any more, or the storage
// keeps no seq versions.
func (c *Cache) Settle(ctx context.Context, tag, old string, seq int64, epoch string) bool {
	sq, ok := c.cfg.Storage.(Sequencer)
	if !ok || !c.breaker.Allow() {
		return false
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.Timeout)
	start := time.Now()
	set, err := sq.Settle(ctx, tag, old, seq, epoch)
	cancel()
	c.obs.Storage("settle", time.Since(start), err)
	c.breaker.Done(err)
	return err == nil && set
}

// bump calls Storage.Bump under the timeout and reports to the breaker; the
// caller has been allowed by the breaker.
func (c *Cache) bump(ctx context.Context, tags []string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.Timeout)
	start := time.Now()
	err := c.cfg.Storage.Bump(ctx, tags)
	cancel()
	c.obs.Storage("bump", time.Since(start), err)
	if err != nil {
		c.breaker.Done(err)
		return err
	}
	c.breaker.Done(nil)
	return nil
}

// Serve answers r from the cache or from next under policy rt.
func (c *Cache) Serve(w http.ResponseWriter, r *http.Request, rt *Route, next Next) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return next(w, r)
	}
	// WebSocket upgrades and event streams never go near the buffer
	// (Souin #562/#600 panicked on them).
	if r.Header.Get("Upgrade") != "" || strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		return c.bypass(w, r, rt, "streaming", next)
	}
	var id string
	if rt.Private {
		var ok bool
		if identify := rt.Identify; identify != nil {
			id, ok = identify(r)
		} else if c.cfg.Identify != nil {
			id, ok = c.cfg.Identify(r)
		}
		if !ok || id == "" {
			return c.bypass(w, r, rt, "anonymous", next)
		}
	}
	keyID := id
	if rt.Private && rt.Shared != nil {
		if !rt.Shared(r, id) {
			return c.bypass(w, r, rt, "not-admitted", next)
		}
		keyID = sharedID
	}
	now := c.now()
	if !c.breaker.Allow() {
		return c.bypass(w, r, rt, "storage-unavailable", next)
	}
	if c.dirty.Load() {
		if err := c.bump(r.Context(), []string{EpochTag}); err != nil {
			return c.bypass(w, r, rt, "storage-unavailable", next)
		}
		c.dirty.Store(false)
		c.epoch.Store("")
		if !c.breaker.Allow() {
			return c.bypass(w, r, rt, "storage-unavailable", next)
		}
	}
	key := rt.key(r, keyID)
	var tags []string
	if rt.Tags != nil {
		tags = rt.Tags(r, id)
	}
	tags = append(tags[:len(tags):len(tags)], EpochTag)
	asked := tags
	if rt.Compose != nil && rt.ComposeTags != nil {
		asked = append(tags[:len(tags):len(tags)], rt.ComposeTags(r, id)...)
	}

	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), c.cfg.Timeout)
	start := time.Now()
	raw, versions, err := c.cfg.Storage.Lookup(ctx, key, asked)
	cancel()
	c.obs.Storage("lookup", time.Since(start), err)
	if err != nil {
		c.breaker.Done(err)
		return c.bypass(w, r, rt, "storage-unavailable", next)
	}
	c.breaker.Done(nil)
	if len(versions) != len(asked) {
		return c.bypass(w, r, rt, "storage-unavailable", next)
	}
	versions, cvers := versions[:len(tags):len(tags)], versions[len(tags):]
	if len(cvers) > 0 {
		c.epoch.Store(versions[len(versions)-1])
	}

	detail := "uri-miss"
	if raw != nil {
		if e, err := decodeEntry(raw); err == nil && e.fresh(now, tags, versions) {
			if rt.Compose != nil && e.status == http.StatusOK {
				ce, err := composed(r, rt, id, e, cvers, versions[len(versions)-1])
				if err != nil {
					return c.bypass(w, r, rt, "compose-failed", next)
				}
				e = ce
			}
			c.obs.Request(rt.Name, ResultHit)
			c.serveHit(w, r, e, now)
			return nil
		}
		detail = "stale"
	}
	c.obs.Request(rt.Name, ResultMiss)
	if r.Method == http.MethodHead {
		// A handler may answer HEAD without a body; storing that under the
		// GET key would serve empty GETs. HEAD misses pass through.
		c.setMiss(w.Header(), detail, false, false)
		return next(w, r)
	}
	return c.fill(w, r, rt, lookedUp{id: id, key: key, tags: tags, versions: versions, cvers: cvers}, detail, next)
}

// composed is e with the body rt.Compose builds for r (a copy: e may be
// shared with coalesced requests), its ETag and no Last-Modified.
func composed(r *http.Request, rt *Route, id string, e *entry, cvers []string, epoch string) (*entry, error) {
	body, etag, err := rt.Compose(r, Part{ID: id, Body: e.body, ETag: e.header.Get("ETag"), Versions: cvers, Epoch: epoch})
	if err != nil {
		return nil, err
	}
	if etag == "" {
		etag = etagOf(body)
	}
	out := *e
	out.body = body
	out.header = e.header.Clone()
	out.header.Del("Last-Modified")
	out.header.Set("ETag", etag)
	return &out, nil
}

// fresh reports whether e may be served: unexpired and stored under the
// current version of exactly the tags the route declares now.
func (e *entry) fresh(now time.Time, tags, versions []string) bool {
	if !now.Before(e.expires) || len(e.tags) != len(tags) {
		return false
	}
	for i := range tags {
		if e.tags[i] != tags[i] || e.versions[i] != versions[i] {
			return false
		}
	}
	return true
}

func (c *Cache) bypass(w http.ResponseWriter, r *http.Request, rt *Route, reason string, next Next) error {
	c.obs.Request(rt.Name, ResultBypass)
	h := w.Header()
	h.Set(XCacheHeader, "BYPASS")
	h.Set(StatusHeader, c.cfg.Name+"; fwd=bypass; detail="+reason)
	return next(w, r)
}

func (c *Cache) setMiss(h http.Header, detail string, stored, collapsed bool) {
	h.Set(XCacheHeader, "MISS")
	s := c.cfg.Name + "; fwd=" + detail
	if stored {
		s += "; stored"
	}
	if collapsed {
		s += "; collapsed"
	}
	h.Set(StatusHeader, s)
}

func (c *Cache) serveHit(w http.ResponseWriter, r *http.Request, e *entry, now time.Time) {
	h := w.Header()
	copyHeader(h, e.header)
	h.Set("Age", strconv.FormatInt(int64(now.Sub(e.stored)/time.Second), 10))
	h.Set(XCacheHeader, "HIT")
	h.Set(StatusHeader, c.cfg.Name+"; hit; ttl="+strconv.FormatInt(int64(e.expires.Sub(now)/time.Second), 10))
	writeStored(w, r, e)
}

// writeStored writes a complete response, answering 304 when r's
// preconditions say the client has it.
func writeStored(w http.ResponseWriter, r *http.Request, e *entry) {
	h := w.Header()
	if e.status == http.StatusOK && notModified(r, e.header) {
		h.Del("Content-Length")
		h.Del("Content-Type")
		h.Del("Content-Encoding")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(e.body)))
	w.WriteHeader(e.status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(e.body)
	}
}
