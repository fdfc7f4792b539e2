// Package gateway wires the store, batcher, hub, bus and auth into the chat
// service, and serves its REST API and WebSocket endpoint over net/http. It
// knows nothing of Caddy: caddymodule adapts it, and a plain main could too.
package gateway

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/chatgate/chatgate/chatcore"
	"github.com/chatgate/chatgate/chatcore/auth"
	"github.com/chatgate/chatgate/chatcore/bus"
	"github.com/chatgate/chatgate/chatcore/filestore"
	"github.com/chatgate/chatgate/chatcore/hub"
	"github.com/chatgate/chatgate/chatcore/limits"
	"github.com/chatgate/chatgate/chatcore/metrics"
	"github.com/chatgate/chatgate/chatcore/presence"
	"github.com/chatgate/chatgate/chatcore/socket"
	"github.com/chatgate/chatgate/chatcore/store"
)

// Config is the shared, per-process part of the service: what owns pools
// and must survive config reloads.
type Config struct {
	Store  store.Config
	Hub    hub.Config
	Secret []byte
	// PreviousSecrets still verify tokens, never sign them (key rotation).
	PreviousSecrets [][]byte
	TokenTTL        time.Duration
	Password        auth.PasswordParams
	// PasswordConcurrency bounds password hashes running at once
	// (GOMAXPROCS) and PasswordQueue how many more may wait for a slot
	// (0: 4 × PasswordConcurrency, at least 8; negative: none); past both a
	// register or login answers 503 with Retry-After.
	PasswordConcurrency int
	PasswordQueue       int
	Instance            string
	Logger              *zap.Logger
	// Bus defaults to the memory bus (one node).
	Bus bus.Bus
	// Redis is the shared Redis (nil on a single node without one): the bus,
	// caches and limits use it.
	Redis redis.UniversalClient
	// RedisPrefix starts every Redis key and channel, so deployments can
	// share a Redis (prefix.go); empty derives it from Store.DSN.
	RedisPrefix string
	// Files keeps uploads' bytes; nil: a filestore.Disk at FilesDir
	// (default .data/files).
	Files    filestore.Storage
	FilesDir string
	// UnattachedFileTTL is how long an upload may wait for a message
	// before the sweep deletes it (default 24h).
	UnattachedFileTTL time.Duration
}

// Core is the chat service of one instance.
type Core struct {
	cfg     Config
	log     *zap.Logger
	Store   *store.Store
	Batcher *store.Batcher
	Hub     *hub.Hub
	Bus     bus.Bus
	Signer  *auth.Signer
	hasher  *auth.Hasher
	Metrics *metrics.Set
	revoker *revoker
	// inval bumps the caches of rooms with new commits (invalidate.go).
	inval *invalidator
	// searchClean merges the search index's pending list after commits
	// (store/search_clean.go).
	searchClean *store.IndexCleaner
	pub         *publisher // built by Start
	// mentions sends the notices of committed mentions; inbox finds a
	// user's connections here (mentions.go); sessions closes those whose
	// session has ended (sessions.go).
	mentions mentioner
	inbox    inbox
	sessions sessionEnder
	presence presence.Manager
	cache    *caching
	// Limits holds the token buckets (per user, address, account) and
	// Conns the open connections per address, both shared through Redis.
	Limits *limits.Limiter
	Conns  *limits.ConnCounter
	// Files keeps uploads' bytes (files.go); sweep deletes the unattached.
	Files filestore.Storage
	sweep *sweeper

	dummyOnce sync.Once
	dummy     string

	startMu sync.Mutex
	// running is set once Start has finished (the schema migrated, the
	// batcher and bus up): Ready answers not ready before, since Caddy's
	// listeners may take requests while the chat app still starts.
	running atomic.Bool
	started bool
	stopped bool
	cancel  context.CancelFunc
}

// New builds the core without touching the network or starting a
// goroutine, so it can run inside `caddy validate` and during config
// provisioning: the pool, the Redis client, the bus, the presence and the
// entity caches are built, none is connected or started. Start starts
// them; Stop ends them (and a core never started does no I/O there).
func New(cfg Config) (*Core, error) {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if len(cfg.Secret) == 0 {
		cfg.Secret = make([]byte, 32)
		if _, err := rand.Read(cfg.Secret); err != nil {
			return nil, fmt.Errorf("gateway: generate secret: %w", err)
		}
		cfg.Logger.Warn("gateway: no secret configured; using a random one, tokens will not survive a restart or work across instances")
	}
	var err error
	if cfg.RedisPrefix, err = redisPrefix(cfg); err != nil {
		return nil, err
	}
	m := metrics.Default()
	cfg.Store.Observer = m
	if cfg.Store.Logger == nil {
		cfg.Store.Logger = cfg.Logger
	}
	st, err := store.New(cfg.Store)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	signer, err := auth.NewSigner(cfg.Secret, cfg.TokenTTL, cfg.PreviousSecrets...)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("gateway: %w", err)
	}
	if cfg.Hub.Logger == nil {
		cfg.Hub.Logger = cfg.Logger
	}
	cfg.Hub.Observer = hubObserver{m}
	c := &Core{cfg: cfg, log: cfg.Logger, Store: st, Signer: signer, Metrics: m,
		hasher: auth.NewHasher(cfg.Password, cfg.PasswordConcurrency, cfg.PasswordQueue)}
	c.revoker = newRevoker(c)
	c.Bus = cfg.Bus
	if c.Bus == nil && cfg.Redis != nil {
		cfg.Hub.ActivateCatchUp = 250 * time.Millisecond
		c.Bus = bus.NewRedis(bus.RedisConfig{Client: cfg.Redis, Prefix: cfg.RedisPrefix, Instance: instanceID(cfg.Instance),
			Logger: cfg.Logger, Observer: busObserver{m}})
	}
	if c.Bus == nil {
		c.Bus = bus.NewMemory()
	}
	c.Hub = hub.New(st, cfg.Hub)
	busID := cfg.Instance
	if rb, ok := c.Bus.(*bus.Redis); ok {
		rb.SetResyncer(c.Hub)
		busID = rb.InstanceID()
	}
	if c.presence, err = c.newPresence(busID); err != nil {
		st.Close()
		return nil, fmt.Errorf("gateway: %w", err)
	}
	c.Hub.OnUserPresence = c.presence.Changed
	c.Hub.OnRoomActive = c.Bus.Watch
	c.Hub.OnRoomIdle = c.Bus.Unwatch
	c.cache = newCaching(c)
	c.inval = newInvalidator(c.bumpRooms)
	c.inval.history = c.bumpHistory
	c.mentions.c = c
	c.Batcher = st.NewBatcher(c.committed)
	c.searchClean = st.NewIndexCleaner(time.Second)
	limitErr := func(err error) { m.RedisErrors.WithLabelValues("limit").Inc() }
	c.Limits = limits.NewLimiter(cfg.Redis, cfg.RedisPrefix+"rl:", limitErr)
	c.Conns = limits.NewConnCounter(cfg.Redis, cfg.RedisPrefix+"conns:", cfg.Instance, limitErr)
	c.Files = cfg.Files
	if c.Files == nil {
		if cfg.FilesDir == "" {
			cfg.FilesDir = defaultFilesDir
		}
		c.Files = filestore.NewDisk(cfg.FilesDir)
	}
	if cfg.UnattachedFileTTL <= 0 {
		cfg.UnattachedFileTTL = 24 * time.Hour
	}
	c.sweep = newSweeper(c, cfg.UnattachedFileTTL)
	return c, nil
}

// Start connects and starts everything that runs in the background: it
// migrates the schema, starts the bus's subscriptions, the publisher, the
// batcher's flushers, the connection counter's refresh, the entity caches'
// invalidation subscriber (then warms them), the membership revoker and
// the presence heartbeat. It is idempotent: a config reload that keeps the
// core calls it again.
func (c *Core) Start(ctx context.Context) error {
	c.startMu.Lock()
	defer c.startMu.Unlock()
	if c.started {
		return nil
	}
	if c.stopped {
		return errors.New("gateway: core already stopped")
	}
	if err := c.Store.Migrate(ctx); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	if err := c.Bus.Start(busHandler{c}); err != nil {
		return fmt.Errorf("gateway: start bus: %w", err)
	}
	c.Metrics.SetPoolSource(c.Store.Stats)
	m := c.Metrics
	c.pub = newPublisher(c.Bus, c.log, 1<<16, func(n int) {
		m.BusPublished.WithLabelValues("dropped").Add(float64(n))
	})
	c.sweep.Start()
	c.Batcher.Start()
	c.searchClean.Start()
	var runCtx context.Context
	runCtx, c.cancel = context.WithCancel(context.Background())
	go c.Conns.Run(runCtx)
	c.started = true
	c.cache.start()
	c.revoker.start()
	if err := c.presence.Start(ctx); err != nil {
		c.log.Warn("gateway: start presence", zap.Error(err))
	}
	if err := c.StartCaches(ctx); err != nil {
		// A cold cache is slower, not wrong: serve anyway.
		c.log.Warn("gateway: cache warm-up", zap.Error(err))
	}
	c.running.Store(true)
	return nil
}

// Stop flushes the batcher (every accepted send is committed and acked),
// stops what Start started (the presence takes this instance's users out),
// then closes the hub, the bus, the Redis client and the pool.
func (c *Core) Stop(ctx context.Context) error {
	c.running.Store(false)
	c.startMu.Lock()
	defer c.startMu.Unlock()
	if c.stopped {
		return nil
	}
	c.stopped = true
	var errs []error
	if c.started {
		if err := c.Batcher.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("gateway: stop batcher: %w", err))
		}
	}
	if c.cancel != nil {
		c.cancel()
	}
	c.searchClean.Stop()
	c.revoker.stop()
	if c.started {
		c.sweep.Stop()
	}
	if c.pub != nil {
		c.pub.stop()
	}
	if err := c.presence.Stop(ctx); err != nil {
		errs = append(errs, fmt.Errorf("gateway: stop presence: %w", err))
	}
	c.inval.idle(ctx) // the last rounds' bumps, while Redis is still open
	c.StopCaches()
	if err := c.Bus.Close(); err != nil {
		errs = append(errs, fmt.Errorf("gateway: close bus: %w", err))
	}
	c.Hub.Close()
	if c.cfg.Redis != nil {
		if err := c.cfg.Redis.Close(); err != nil {
			errs = append(errs, fmt.Errorf("gateway: close redis: %w", err))
		}
	}
	c.Store.Close()
	return errors.Join(errs...)
}

// dummyHash is a password hash with this instance's costs, checked
// against when a login names no account.
func (c *Core) dummyHash() string {
	c.dummyOnce.Do(func() {
		c.dummy, _ = auth.HashPassword("not a password: no account has it", c.hasher.Params())
	})
	return c.dummy
}

// Redis is the shared Redis client, nil when the instance runs without one.
func (c *Core) Redis() redis.UniversalClient { return c.cfg.Redis }

// Ready reports whether the instance can serve: Postgres and, when
// configured, Redis answer.
func (c *Core) Ready(ctx context.Context) error {
	if !c.running.Load() {
		return errors.New("starting: the schema and the batcher are not up yet")
	}
	up := func(dep string, err error) error {
		v := 1.0
		if err != nil {
			v = 0
		}
		c.Metrics.DependencyUp.WithLabelValues(dep).Set(v)
		if err != nil {
			return fmt.Errorf("%s: %w", dep, err)
		}
		return nil
	}
	if err := up("postgres", c.Store.Ping(ctx)); err != nil {
		return err
	}
	if c.cfg.Redis != nil {
		if err := up("redis", c.cfg.Redis.Ping(ctx).Err()); err != nil {
			return err
		}
	}
	return nil
}

// instanceID makes the bus's instance id unique even when two processes
// share a name (it only tells an instance its own publications).
func instanceID(name string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%x", name, b)
}

// busObserver adapts the metrics set to bus.Observer.
type busObserver struct{ m *metrics.Set }

func (o busObserver) Published(kind string, n int) {
	o.m.BusPublished.WithLabelValues(kind).Add(float64(n))
}
func (o busObserver) Received(kind string, n int, lag time.Duration) {
	o.m.BusReceived.WithLabelValues(kind).Add(float64(n))
	if lag > 0 {
		o.m.BusLag.Observe(lag.Seconds())
	}
}
func (o busObserver) RedisCall(cmd string, d time.Duration, err error) {
	o.m.RedisDuration.WithLabelValues(cmd).Observe(d.Seconds())
	if err != nil {
		o.m.RedisErrors.WithLabelValues(cmd).Inc()
	}
}

// committed runs on the batcher's flusher after each commit, after the
// senders' acks: (a) local subscribers get the messages at once, (b) the
// rooms' caches are marked for invalidation (CacheCommitted, off the
// flusher, never dropped), (c) other instances get them through the bus
// (publisher.go, off the flusher; dropped under overload, then backfilled).
func (c *Core) committed(msgs []chatcore.Message) {
	now := time.Now()
	deliver(c.Hub, msgs, now)
	c.CacheCommitted(msgs)
	c.pub.add(msgs, now)
	c.mentions.add(msgs)
	c.searchClean.Note()
}

// Typing delivers a typing event here and on the other instances.
func (c *Core) Typing(ctx context.Context, room, user int64) error {
	c.Hub.Typing(room, user)
	return c.Bus.PublishTyping(ctx, room, user)
}

// busHandler feeds the bus into the hub.
type busHandler struct{ c *Core }

func (b busHandler) OnMessages(msgs []chatcore.Message, committed time.Time) {
	deliver(b.c.Hub, msgs, committed)
}

// deferredPool recycles deliver's socket.Deferred and its scratch buffers.
var deferredPool = sync.Pool{New: func() any { return new(socket.Deferred) }}

// deliver hands msgs to the hub and then writes the local subscribers'
// sockets on this goroutine (the batcher's flusher, or the bus reader):
// one non-blocking write(2) per connection instead of a writer goroutine
// each (socket/inline.go).
func deliver(h *hub.Hub, msgs []chatcore.Message, committed time.Time) {
	d := deferredPool.Get().(*socket.Deferred)
	for i := range msgs {
		h.DeliverDeferred(&msgs[i], committed, d)
	}
	d.Flush()
	deferredPool.Put(d)
}

func (b busHandler) OnTyping(room, user int64) {
	b.c.Hub.Typing(room, user)
}

func (b busHandler) OnPresence(room, user int64, online bool) {
	b.c.Hub.Presence(room, user, online)
}

// Online lists the users online in the room across instances.
func (c *Core) Online(ctx context.Context, room int64) ([]int64, error) {
	return c.presence.Online(ctx, room)
}

// IsMember reports whether user belongs to room: the one membership check
// of REST, WebSocket and the response cache (a two-level cache that every
// membership change invalidates on every instance, else Postgres).
func (c *Core) IsMember(ctx context.Context, room, user int64) (bool, error) {
	return c.isMember(ctx, room, user)
}

// hubObserver adapts the metrics set to hub.Observer.
type hubObserver struct{ m *metrics.Set }

func (o hubObserver) Delivered(n int, lag time.Duration) {
	if lag > 0 {
		o.m.FanoutLag.Observe(lag.Seconds())
	}
}
func (o hubObserver) GapFilled(n int) { o.m.GapFilled.Add(float64(n)) }
func (o hubObserver) Replayed(n int, fromStore bool) {
	src := "ring"
	if fromStore {
		src = "store"
	}
	o.m.Replayed.WithLabelValues(src).Add(float64(n))
}

// socketObserver adapts the metrics set to socket.Observer.
type socketObserver struct{ m *metrics.Set }

func (o socketObserver) FramesOut(frames, events int) {
	o.m.FramesOut.Add(float64(frames))
	o.m.EventsOut.Add(float64(events))
}
func (o socketObserver) FrameIn()  { o.m.FramesIn.Inc() }
func (o socketObserver) Overflow() { o.m.Overflows.Inc() }
func (o socketObserver) Delivered(lag time.Duration) {
	o.m.Delivered.Inc()
	o.m.DeliveryLatency.Observe(lag.Seconds())
}
