package caddymodule

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/cachemw"
	"github.com/chatgate/chatgate/chatcore/auth"
	"github.com/chatgate/chatgate/chatcore/gateway"
	"github.com/chatgate/chatgate/chatcore/metrics"
)

func init() {
	caddy.RegisterModule(CacheHandler{})
}

// caches holds one cachemw.Cache per distinct storage: every chat_cache
// handler on the same storage shares its breaker, singleflight and (for
// memory) entries, so a tag bump reaches all of them; reloads keep it.
var caches = caddy.NewUsagePool()

// CacheHandler is `chat_cache`: a response cache for the GETs (and HEADs)
// its matcher selects. It sits after `encode`, so it stores identity bodies
// and encode compresses each response it serves.
type CacheHandler struct {
	// TTL is how long a response is served from the cache (required).
	TTL caddy.Duration `json:"ttl,omitempty"`
	// VaryQuery names the query parameters in the key; empty means all of
	// them, unless IgnoreQuery.
	VaryQuery []string `json:"vary_query,omitempty"`
	// IgnoreQuery leaves the query out of the key entirely.
	IgnoreQuery bool `json:"ignore_query,omitempty"`
	// VaryHeader names request headers in the key.
	VaryHeader []string `json:"vary_header,omitempty"`
	// Private keys entries by the authenticated user; requests without a
	// valid token bypass the cache.
	Private bool `json:"private,omitempty"`
	// SharedByMembers names the room (a placeholder such as
	// {http.request.uri.path.2}) whose members share one entry: each
	// request's token is verified and its user's membership checked (the
	// chat app's membership cache, the API's own check) before the lookup;
	// anyone else goes to the API. Implies private; needs the chat app. For
	// routes whose answer is the same for every member (messages, members).
	SharedByMembers string `json:"shared_by_members,omitempty"`
	// Compose stores part of the API's answer and completes it per
	// request (needs the chat app; gateway/rest_roomlist.go):
	//   - "room_list" (GET /api/rooms): one entry for every user, the
	//     public rooms; each answer adds the user's memberships, read
	//     markers and private rooms, and the live counters. Implies
	//     private; tags may not name the user.
	//   - "room" (GET /api/rooms/{id}, with shared_by_members): the room
	//     without its counters; each answer adds them.
	//   - "messages" (GET /api/rooms/{id}/messages without before or
	//     after, with shared_by_members): the newest page as it was
	//     stored; each answer adds the messages since, up to the last seq
	//     that the version of the room's tag room:{id} carries (read with
	//     the entry; every post advances it).
	// Posts then drop none of these entries: the counters come from the
	// entity cache every post invalidates, the newest messages from the
	// seq every post advances.
	Compose string `json:"compose,omitempty"`
	// Tags are the invalidation tags of the responses, with placeholders
	// ({http.request.uri.path.2}, and {chat_cache.user}, the user id).
	Tags []string `json:"tags,omitempty"`
	// MaxSize is the largest body stored (1MiB).
	MaxSize int64 `json:"max_size,omitempty"`
	// Storage is "redis" or "memory"; empty picks redis when a Redis URL or
	// the chat app's Redis is configured, else memory.
	Storage string `json:"storage,omitempty"`
	// Redis is the storage's redis:// URL; empty uses the chat app's client.
	Redis string `json:"redis,omitempty"`
	// Prefix prefixes the storage's Redis keys: the chat app's
	// redis_prefix followed by "http:", or "chatgate:http:" without the
	// chat app.
	Prefix string `json:"prefix,omitempty"`
	// MemoryMax caps the memory storage (64MiB).
	MemoryMax int64 `json:"memory_max,omitempty"`
	// Timeout bounds each storage call (25ms); slower counts as down.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// Name labels this route in metrics ("default").
	Name string `json:"name,omitempty"`

	cache *cachemw.Cache
	route cachemw.Route
	// authenticate verifies a token and its session (Core.Authenticate);
	// nil without the chat app.
	authenticate func(ctx context.Context, token string) (auth.Claims, error)
	poolKey      string
	release      func()
}

// CaddyModule returns the Caddy module information.
func (CacheHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.chat_cache", New: func() caddy.Module { return new(CacheHandler) }}
}

// cacheRef is a pooled cache and the Redis client it owns (if any).
type cacheRef struct {
	cache *cachemw.Cache
	rdb   redis.UniversalClient
}

func (c cacheRef) Destruct() error {
	if c.rdb != nil {
		return c.rdb.Close()
	}
	return nil
}

// Provision builds the route policy and takes the shared cache for its
// storage. No network I/O: go-redis dials on first use. A `storage redis`
// with no Redis to use fails here rather than silently caching nowhere
// (cache-handler #102).
func (h *CacheHandler) Provision(ctx caddy.Context) error {
	repl := caddy.NewReplacer()
	h.Redis = strings.TrimSpace(repl.ReplaceAll(h.Redis, ""))
	if h.Name == "" {
		h.Name = "default"
	}
	m := metrics.Caches()
	if err := m.Register(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("chat_cache: register metrics: %w", err)
	}
	if err := metrics.Default().Register(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("chat_cache: register metrics: %w", err)
	}

	var app *App
	switch a, err := ctx.AppIfConfigured("chat"); {
	case err == nil:
		app, _ = a.(*App)
	case !errors.Is(err, caddy.ErrNotConfigured):
		return fmt.Errorf("chat_cache: load chat app: %w", err)
	}
	var appRedis redis.UniversalClient
	if app != nil && app.Core() != nil {
		appRedis = app.Core().Redis()
	}
	if h.Prefix == "" {
		// Under the deployment's prefix even on a Redis of its own: two
		// deployments' entries for one URL must not meet there either.
		h.Prefix = "chatgate:http:"
		if app != nil && app.Core() != nil {
			h.Prefix = app.Core().RedisPrefix() + "http:"
		}
	}
	kind := h.Storage
	if kind == "" {
		kind = "memory"
		if h.Redis != "" || appRedis != nil {
			kind = "redis"
		}
	}
	if kind == "redis" && h.Redis == "" && appRedis == nil {
		return errors.New("chat_cache: storage redis needs a redis URL or the chat app's redis option")
	}

	key := fmt.Sprintf("chat_cache:%s:%s:%d:%d", kind, h.Prefix, h.MemoryMax, h.Timeout)
	if kind == "redis" {
		if h.Redis != "" {
			key += ":" + h.Redis
		} else {
			key += fmt.Sprintf(":app:%p", appRedis)
		}
	}
	val, _, err := caches.LoadOrNew(key, func() (caddy.Destructor, error) {
		return h.newCache(kind, appRedis)
	})
	if err != nil {
		return fmt.Errorf("chat_cache: %w", err)
	}
	h.poolKey = key
	h.cache = val.(cacheRef).cache

	if app != nil && app.Core() != nil {
		h.authenticate = app.Core().Authenticate
	}
	h.route = cachemw.Route{Name: h.Name, TTL: time.Duration(h.TTL), VaryHeader: h.VaryHeader,
		Private: h.Private, MaxSize: int(h.MaxSize), Identify: h.identify}
	if h.SharedByMembers != "" {
		if app == nil || app.Core() == nil {
			return errors.New("chat_cache: shared_by_members needs the chat app (membership is checked per request)")
		}
		h.route.Private = true
		h.route.Shared = h.memberOf(app.Core(), h.SharedByMembers)
	}
	if h.Compose != "" {
		if app == nil || app.Core() == nil {
			return errors.New("chat_cache: compose needs the chat app")
		}
		core := app.Core()
		h.route.Origin = func(r *http.Request) *http.Request {
			return r.WithContext(gateway.WithStoredPart(r.Context()))
		}
		switch h.Compose {
		case "room_list":
			h.route.Private = true
			// Every verified user shares the entry: it holds only what
			// everyone sees, the rest is composed per user.
			h.route.Shared = func(*http.Request, string) bool { return true }
			h.route.Compose = func(r *http.Request, p cachemw.Part) ([]byte, string, error) {
				user, err := strconv.ParseInt(p.ID, 10, 64)
				if err != nil {
					return nil, "", err
				}
				return core.ComposeRoomList(r.Context(), user, p.Body, p.ETag)
			}
		case "room":
			h.route.Compose = func(r *http.Request, p cachemw.Part) ([]byte, string, error) {
				body, err := core.ComposeRoom(r.Context(), p.Body)
				return body, "", err
			}
		case "messages":
			// The stored newest page plus the messages since, up to the
			// last seq that the version of the room's tag carries
			// (gateway/rest_latest.go): read with the entry.
			room := func(r *http.Request) (int64, bool) {
				repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
				if repl == nil {
					return 0, false
				}
				id, err := strconv.ParseInt(repl.ReplaceAll(h.SharedByMembers, ""), 10, 64)
				return id, err == nil && id > 0
			}
			h.route.ComposeTags = func(r *http.Request, _ string) []string {
				id, _ := room(r)
				return []string{gateway.LatestTag(id)}
			}
			cache := h.cache
			h.route.Compose = func(r *http.Request, p cachemw.Part) ([]byte, string, error) {
				id, ok := room(r)
				if !ok || len(p.Versions) != 1 {
					return nil, "", errors.New("chat_cache: compose messages: no room")
				}
				version := p.Versions[0]
				seq, known := p.Seq(0)
				ctx := r.Context()
				return core.ComposeLatest(ctx, gateway.LatestInput{Room: id, Query: r.URL.Query(), Stored: p.Body, StoredETag: p.ETag,
					Version: version, Seq: seq, SeqKnown: known,
					Settle: func(seq int64) bool { return cache.Settle(ctx, gateway.LatestTag(id), version, seq, p.Epoch) }})
			}
		}
	}
	switch {
	case h.IgnoreQuery:
		h.route.VaryQuery = []string{}
	case len(h.VaryQuery) > 0:
		h.route.VaryQuery = h.VaryQuery
	}
	if len(h.Tags) > 0 {
		tags := h.Tags
		h.route.Tags = func(r *http.Request, id string) []string {
			repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
			if repl == nil {
				repl = caddy.NewReplacer()
			}
			repl.Set("chat_cache.user", id)
			out := make([]string, len(tags))
			for i, t := range tags {
				out[i] = repl.ReplaceAll(t, "")
			}
			return out
		}
	}
	if app != nil && app.Core() != nil {
		// Writes in the chat API bump their tags in this storage.
		h.release = app.Core().AddTagInvalidator(key, h.cache)
	}
	return nil
}

func (h *CacheHandler) newCache(kind string, appRedis redis.UniversalClient) (caddy.Destructor, error) {
	var ref cacheRef
	var st cachemw.Storage
	switch kind {
	case "memory":
		st = cachemw.NewMemory(int(h.MemoryMax))
	default:
		rdb := appRedis
		if h.Redis != "" {
			var err error
			if rdb, err = newRedisClient(h.Redis, cacheRedisTimeouts); err != nil {
				return nil, err
			}
			ref.rdb = rdb
		}
		st = cachemw.NewRedis(rdb, h.Prefix)
	}
	c, err := cachemw.New(cachemw.Config{Storage: st, Timeout: time.Duration(h.Timeout),
		Observer: cacheObserver{kind: kind}})
	if err != nil {
		if ref.rdb != nil {
			_ = ref.rdb.Close()
		}
		return nil, err
	}
	ref.cache = c
	return ref, nil
}

// identify returns who a private request is for. With the chat app, the
// token is verified and the key is the user id: every token of one user
// shares entries, and an expired, forged or ended session's token never
// matches anything (it bypasses to the API, which answers 401). Without it, the key is a
// hash of the credentials as sent: only their holder can hit the entry.
func (h *CacheHandler) identify(r *http.Request) (string, bool) {
	if h.authenticate != nil {
		tok := auth.FromRequest(r, false)
		if tok == "" {
			return "", false
		}
		claims, err := h.authenticate(r.Context(), tok)
		if err != nil {
			return "", false
		}
		return strconv.FormatInt(claims.UserID, 10), true
	}
	a, c := r.Header.Get("Authorization"), r.Header.Get("Cookie")
	if a == "" && c == "" {
		return "", false
	}
	sum := sha256.Sum256([]byte(a + "\x00" + c))
	return "cred:" + hex.EncodeToString(sum[:16]), true
}

// memberOf admits a request when its user is a member of the room that
// placeholder names, asking the chat core as the API does; an unparsable
// room or a failed check is refused, so the API answers it.
func (h *CacheHandler) memberOf(core *gateway.Core, placeholder string) func(*http.Request, string) bool {
	return func(r *http.Request, id string) bool {
		repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
		if repl == nil {
			return false
		}
		room, err := strconv.ParseInt(repl.ReplaceAll(placeholder, ""), 10, 64)
		if err != nil || room <= 0 {
			return false
		}
		user, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			return false
		}
		ok, err := core.IsMember(r.Context(), room, user)
		return err == nil && ok
	}
}

// Validate checks the configuration.
func (h *CacheHandler) Validate() error {
	ttl := time.Duration(h.TTL)
	switch {
	case ttl <= 0:
		return errors.New("chat_cache: ttl is required")
	case ttl > 24*time.Hour:
		return errors.New("chat_cache: ttl must be at most 24h")
	case h.Storage != "" && h.Storage != "redis" && h.Storage != "memory":
		return fmt.Errorf("chat_cache: unknown storage %q (redis or memory)", h.Storage)
	case h.MaxSize < 0 || h.MemoryMax < 0 || h.Timeout < 0:
		return errors.New("chat_cache: sizes and timeout must not be negative")
	case h.IgnoreQuery && len(h.VaryQuery) > 0:
		return errors.New("chat_cache: ignore_query and vary_query exclude each other")
	}
	switch h.Compose {
	case "":
	case "room_list":
		if h.SharedByMembers != "" {
			return errors.New("chat_cache: compose room_list is one entry for every user, not shared_by_members")
		}
	case "room":
		if h.SharedByMembers == "" {
			return errors.New("chat_cache: compose room needs shared_by_members (the room's info is for its members)")
		}
	case "messages":
		if h.SharedByMembers == "" {
			return errors.New("chat_cache: compose messages needs shared_by_members (a room's messages are for its members)")
		}
		if !h.IgnoreQuery && (len(h.VaryQuery) == 0 || slices.ContainsFunc(h.VaryQuery, func(q string) bool { return q == "before" || q == "after" })) {
			return errors.New("chat_cache: compose messages is the newest page: vary_query limit (its matcher excludes before and after)")
		}
	default:
		return fmt.Errorf("chat_cache: unknown compose %q (room_list, room or messages)", h.Compose)
	}
	for _, t := range h.Tags {
		if h.SharedByMembers != "" && strings.Contains(t, "{chat_cache.user}") {
			return fmt.Errorf("chat_cache: tag %q names the user, but shared_by_members entries are one for all members", t)
		}
		if h.Compose == "room_list" && strings.Contains(t, "{chat_cache.user}") {
			return fmt.Errorf("chat_cache: tag %q names the user, but compose room_list is one entry for every user", t)
		}
	}
	return nil
}

// ServeHTTP serves from the cache or the next handler.
func (h *CacheHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	return h.cache.Serve(w, r, &h.route, next.ServeHTTP)
}

// Cleanup releases the tag registration and the pooled cache.
func (h *CacheHandler) Cleanup() error {
	if h.release != nil {
		h.release()
		h.release = nil
	}
	if h.poolKey == "" {
		return nil
	}
	_, err := caches.Delete(h.poolKey)
	h.poolKey = ""
	return err
}

// cacheObserver feeds cachemw's measurements to Prometheus.
type cacheObserver struct{ kind string }

func (o cacheObserver) Request(route, result string) {
	metrics.Caches().HTTPRequests.WithLabelValues(o.kind, route, result).Inc()
}

func (o cacheObserver) Storage(op string, d time.Duration, _ error) {
	if o.kind == "redis" {
		metrics.Default().ObserveRedis("http_cache_"+op, d)
	}
}

func (o cacheObserver) Breaker(state int) {
	metrics.Caches().Breaker.WithLabelValues(o.kind).Set(float64(state))
}

// Interface guards
var (
	_ caddy.Provisioner           = (*CacheHandler)(nil)
	_ caddy.Validator             = (*CacheHandler)(nil)
	_ caddy.CleanerUpper          = (*CacheHandler)(nil)
	_ caddyhttp.MiddlewareHandler = (*CacheHandler)(nil)
)
