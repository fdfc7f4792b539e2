package cachemw

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"net/http"
	"strings"
	"time"
)

// filled is the outcome of one origin call, shared with coalesced requests.
type filled struct {
	e      *entry
	stored bool
}

// fill runs the origin once per key and tag versions (singleflight) and
// stores a cacheable answer before anyone sees it, so the next request hits.
// The versions are part of the flight key: a request that read newer
// versions (a write happened) must not join a flight that started before it.
// lookedUp is what a request's lookup found: its identity, key, the
// entry's tags and their versions, and the versions of the compose tags.
type lookedUp struct {
	id, key               string
	tags, versions, cvers []string
}

func (c *Cache) fill(w http.ResponseWriter, r *http.Request, rt *Route, l lookedUp, detail string, next Next) error {
	key, tags, versions := l.key, l.tags, l.versions
	plain := stripConditional(r)
	origin := plain
	if rt.Compose != nil && rt.Origin != nil {
		origin = rt.Origin(plain)
	}
	flight := key + "|" + strings.Join(versions, ",")
	if f := c.recentFill(flight); f != nil {
		// A flight for these same versions just finished: its answer is as
		// fresh as what this request's lookup allowed.
		return c.writeFilled(w, r, rt, l, f, detail, true, plain, next)
	}
	leader := false
	var leaderErr error
	v, _, _ := c.sf.Do(flight, func() (any, error) {
		leader = true
		f, err := c.runOrigin(w, origin, rt, key, tags, versions, detail, next)
		leaderErr = err
		if f != nil && f.stored {
			c.rememberFill(flight, f)
		}
		return f, nil
	})
	f, _ := v.(*filled)
	if leader {
		if f != nil {
			if err := c.writeFilled(w, r, rt, l, f, detail, false, plain, next); err != nil {
				return err
			}
		}
		return leaderErr
	}
	if f == nil || f.e.status != http.StatusOK {
		// The leader streamed, failed or got a non-200: nothing to share,
		// so serve this request from the origin on its own.
		c.setMiss(w.Header(), detail, false, false)
		return next(w, plain)
	}
	return c.writeFilled(w, r, rt, l, f, detail, true, plain, next)
}

// recentWindow is how long a finished flight's stored answer keeps serving
// requests whose lookup missed just before it was stored (they would
// otherwise start a second origin call once the flight has ended).
const recentWindow = time.Second

func (c *Cache) recentFill(flight string) *filled {
	c.recentMu.Lock()
	defer c.recentMu.Unlock()
	return c.recent[flight]
}

func (c *Cache) rememberFill(flight string, f *filled) {
	c.recentMu.Lock()
	if c.recent == nil {
		c.recent = make(map[string]*filled)
	}
	c.recent[flight] = f
	c.recentMu.Unlock()
	time.AfterFunc(recentWindow, func() {
		c.recentMu.Lock()
		delete(c.recent, flight)
		c.recentMu.Unlock()
	})
}

// writeFilled answers r with a flight's outcome, composed for r when the
// route composes (a failed composition sends plain to the origin).
func (c *Cache) writeFilled(w http.ResponseWriter, r *http.Request, rt *Route, l lookedUp, f *filled, detail string, collapsed bool, plain *http.Request, next Next) error {
	e := f.e
	if rt.Compose != nil && e.status == http.StatusOK {
		ce, err := composed(r, rt, l.id, e, l.cvers, l.versions[len(l.versions)-1])
		if err != nil {
			c.setMiss(w.Header(), "compose-failed", false, false)
			return next(w, plain)
		}
		e = ce
	}
	copyHeader(w.Header(), e.header)
	c.setMiss(w.Header(), detail, f.stored, collapsed)
	writeStored(w, r, e)
	return nil
}

// runOrigin calls next into a recorder. It returns nil when the response
// already went to w (streamed, too big, or the handler failed mid-way).
func (c *Cache) runOrigin(w http.ResponseWriter, r *http.Request, rt *Route, key string, tags, versions []string, detail string, next Next) (*filled, error) {
	maxSize := rt.MaxSize
	if maxSize <= 0 {
		maxSize = 1 << 20
	}
	bufMax := maxSize
	if rt.Compose != nil {
		// The stored part must never reach the client as it is: buffer it
		// whatever its size (only up to maxSize is stored) and ignore
		// flushes, so it is always composed.
		bufMax = math.MaxInt
	}
	rec := newRecorder(w, bufMax, func(h http.Header) { c.setMiss(h, detail, false, false) })
	rec.noStream = rt.Compose != nil
	defer rec.release()
	err := next(rec, r)
	if rec.streaming {
		return nil, err
	}
	if err != nil {
		// Caddy will write an error response unless something was written;
		// pass on whatever the handler produced.
		if rec.status != 0 {
			_ = rec.stream()
		}
		return nil, err
	}
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	now := c.now()
	e := &entry{stored: now, expires: now.Add(rt.TTL), status: status, tags: tags, versions: versions,
		header: storedHeader(rec.header)}
	body := rec.buf.Bytes()
	ok := storable(rt, status, e.header, tags) && len(body) <= maxSize
	if ok {
		if e.header.Get("ETag") == "" && e.header.Get("Last-Modified") == "" {
			// An ETag lets clients revalidate with If-None-Match and get a
			// 304 straight from the cache.
			e.header.Set("ETag", etagOf(body))
		}
		if rt.Private && e.header.Get("Cache-Control") == "" {
			// Per-user content: shared caches downstream must not keep it,
			// browsers must revalidate (cheap: a 304 from here).
			e.header.Set("Cache-Control", "private, no-cache")
		}
	}
	e.body = body
	enc := e.encode()
	// The entry now owns a copy of the body; the pooled buffer goes back.
	e.body = enc[len(enc)-len(body):]
	f := &filled{e: e}
	if ok {
		f.stored = c.store(r.Context(), key, enc, rt.TTL)
	}
	return f, nil
}

// store saves an entry under the timeout; false when it was not stored.
func (c *Cache) store(ctx context.Context, key string, enc []byte, ttl time.Duration) bool {
	if !c.breaker.Allow() {
		return false
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.Timeout)
	start := time.Now()
	err := c.cfg.Storage.Store(ctx, key, enc, ttl)
	cancel()
	c.obs.Storage("store", time.Since(start), err)
	if err != nil {
		c.breaker.Done(err)
		return false
	}
	c.breaker.Done(nil)
	return true
}

// etagOf is the ETag the cache gives a body.
func etagOf(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}

// storable applies the storing rules: 200 only, no cookies, no
// Cache-Control that forbids a shared store, no Vary beyond the route's
// key, no encoded body (the cache sits after encode and stores identity),
// and no tag the route did not declare.
func storable(rt *Route, status int, h http.Header, tags []string) bool {
	if status != http.StatusOK || len(h.Values("Set-Cookie")) > 0 {
		return false
	}
	for _, d := range headerTokens(h, "Cache-Control") {
		if d == "no-store" || d == "private" || d == "no-cache" || strings.HasPrefix(d, "private=") || strings.HasPrefix(d, "no-cache=") {
			return false
		}
	}
	for _, v := range headerTokens(h, "Vary") {
		if v == "*" || !containsFold(rt.VaryHeader, v) {
			return false
		}
	}
	if ce := h.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") && !containsFold(rt.VaryHeader, "Accept-Encoding") {
		return false
	}
	for _, t := range strings.FieldsFunc(strings.Join(h.Values(TagsHeader), " "), func(r rune) bool { return r == ' ' || r == ',' }) {
		if !containsFold(tags, t) {
			return false
		}
	}
	return true
}

// storedHeader drops what must not be replayed: per-connection fields, the
// date, the cache's own fields.
func storedHeader(h http.Header) http.Header {
	out := h.Clone()
	for _, k := range []string{"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade",
		"Trailer", "Date", "Age", XCacheHeader, StatusHeader, "Content-Length"} {
		delete(out, k)
	}
	return out
}

// headerTokens splits a list-valued field into lowercase tokens.
func headerTokens(h http.Header, name string) []string {
	var out []string
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if t = strings.ToLower(strings.TrimSpace(t)); t != "" {
				out = append(out, t)
			}
		}
	}
	return out
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
