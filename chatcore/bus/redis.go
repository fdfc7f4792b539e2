package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/chatgate/chatgate/chatcore"
)

// RedisConfig configures the Redis bus.
type RedisConfig struct {
	// Client is a *redis.Client (PUBLISH/SUBSCRIBE) or a
	// *redis.ClusterClient (sharded SPUBLISH/SSUBSCRIBE).
	Client redis.UniversalClient
	// Prefix starts every channel name: the deployment's Redis prefix
	// (e.g. "chatgate:prod:"), so deployments sharing a Redis never hear
	// each other's rooms. It must not contain a brace (the hash tag).
	Prefix string
	// Instance identifies this instance: it skips its own publications,
	// which it has delivered locally already.
	Instance string
	// Partitions spreads room channels over this many subscriber
	// connections on a cluster, each pinned to one hash slot (default 16).
	Partitions int
	// PublishTimeout bounds one publish (default 1s).
	PublishTimeout time.Duration
	Logger         *zap.Logger
	Observer       Observer
}

// Observer receives the bus's measurements.
type Observer interface {
	Published(kind string, n int)
	Received(kind string, n int, lag time.Duration)
	RedisCall(command string, d time.Duration, err error)
}

type nopObserver struct{}

func (nopObserver) Published(string, int)                  {}
func (nopObserver) Received(string, int, time.Duration)    {}
func (nopObserver) RedisCall(string, time.Duration, error) {}

// Resyncer is told which rooms may have missed messages (after a Redis
// disconnect) so it can backfill them from the store.
type Resyncer interface {
	Resync(rooms []int64)
}

// envelope is what travels on a room channel.
type envelope struct {
	Kind      string             `json:"k"` // "m" messages, "t" typing, "p" presence, "n" a mention (on an Inbox)
	Instance  string             `json:"i"`
	Committed int64              `json:"c,omitempty"` // unix nanoseconds
	Messages  []chatcore.Message `json:"m,omitempty"`
	Room      int64              `json:"r,omitempty"`
	User      int64              `json:"u,omitempty"`
	Online    bool               `json:"o,omitempty"`
	Data      json.RawMessage    `json:"d,omitempty"` // "n": the mention event
}

// Redis is the bus for many instances. Each instance subscribes only to
// the rooms it has local subscribers in. The read loops never block on
// consumers (the hub's delivery does not block), so Redis never has to
// buffer for us; and when a connection drops, every watched room is handed
// to the Resyncer, because pub/sub is at most once and the store is not.
type Redis struct {
	cfg     RedisConfig
	rdb     redis.UniversalClient
	cluster bool
	log     *zap.Logger
	obs     Observer

	mu      sync.Mutex
	started bool
	h       Handler
	resync  Resyncer
	parts   []*partition
	watched map[int64]bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// partition is one subscriber connection and the rooms it carries.
type partition struct {
	idx   int
	tag   string
	ps    *redis.PubSub
	rooms map[int64]bool
}

// NewRedis returns a Redis bus; it does no I/O until Start.
func NewRedis(cfg RedisConfig) *Redis {
	if cfg.Partitions <= 0 {
		cfg.Partitions = 16
	}
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	_, cluster := cfg.Client.(*redis.ClusterClient)
	n := 1
	if cluster {
		n = cfg.Partitions
	}
	r := &Redis{cfg: cfg, rdb: cfg.Client, cluster: cluster, log: cfg.Logger, obs: cfg.Observer,
		watched: make(map[int64]bool)}
	for i := 0; i < n; i++ {
		r.parts = append(r.parts, &partition{idx: i, tag: "p" + strconv.Itoa(i), rooms: make(map[int64]bool)})
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	return r
}

// InstanceID is the id this instance publishes under.
func (r *Redis) InstanceID() string { return r.cfg.Instance }

// SetResyncer sets who backfills rooms after a disconnect.
func (r *Redis) SetResyncer(rs Resyncer) {
	r.mu.Lock()
	r.resync = rs
	r.mu.Unlock()
}

func (r *Redis) partitionOf(room int64) *partition {
	return r.parts[uint64(room)%uint64(len(r.parts))]
}

// channel names a room's channel: <prefix>{pN}:room:<id>. On a cluster the
// partition's hash tag puts all rooms of one partition in one slot, so one
// SSUBSCRIBE connection serves them all.
func (r *Redis) channel(room int64) string {
	return r.cfg.Prefix + "{" + r.partitionOf(room).tag + "}:room:" + strconv.FormatInt(room, 10)
}

func roomOf(channel string) (int64, bool) {
	i := strings.LastIndexByte(channel, ':')
	if i < 0 {
		return 0, false
	}
	id, err := strconv.ParseInt(channel[i+1:], 10, 64)
	return id, err == nil
}

// Start begins delivering to h.
func (r *Redis) Start(h Handler) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.h = h
	r.started = true
	for _, p := range r.parts {
		if len(p.rooms) > 0 || !r.cluster {
			var chans []string
			for room := range p.rooms {
				chans = append(chans, r.channel(room))
			}
			r.open(p, chans...)
		}
	}
	return nil
}

// open creates the partition's subscriber connection with its first
// channels and starts its read loop. On a cluster the connection goes to
// the node owning the slot of the first channel, so it must not be opened
// before there is one. Caller holds r.mu.
func (r *Redis) open(p *partition, chans ...string) {
	if r.cluster {
		p.ps = r.rdb.(*redis.ClusterClient).SSubscribe(r.ctx, chans...)
	} else {
		p.ps = r.rdb.Subscribe(r.ctx, chans...)
	}
	r.wg.Add(1)
	go r.readLoop(p)
}

// Close stops the read loops.
func (r *Redis) Close() error {
	r.cancel()
	r.mu.Lock()
	var errs []error
	for _, p := range r.parts {
		if p.ps != nil {
			errs = append(errs, p.ps.Close())
		}
	}
	r.mu.Unlock()
	r.wg.Wait()
	return errors.Join(errs...)
}

// Watch subscribes this instance to the room's channel.
func (r *Redis) Watch(room int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.watched[room] {
		return
	}
	r.watched[room] = true
	p := r.partitionOf(room)
	p.rooms[room] = true
	if !r.started {
		return // Start subscribes everything watched so far
	}
	if p.ps == nil {
		r.open(p, r.channel(room))
		return
	}
	start := time.Now()
	var err error
	if r.cluster {
		err = p.ps.SSubscribe(r.ctx, r.channel(room))
	} else {
		err = p.ps.Subscribe(r.ctx, r.channel(room))
	}
	r.obs.RedisCall("subscribe", time.Since(start), err)
	if err != nil {
		// go-redis resubscribes every channel when it reconnects, and the
		// resync after the reconnect backfills the room.
		r.log.Warn("bus: subscribe", zap.Int64("room", room), zap.Error(err))
	}
}

// Unwatch unsubscribes from the room's channel.
func (r *Redis) Unwatch(room int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.watched[room] {
		return
	}
	delete(r.watched, room)
	p := r.partitionOf(room)
	delete(p.rooms, room)
	if p.ps == nil {
		return
	}
	var err error
	if r.cluster {
		err = p.ps.SUnsubscribe(r.ctx, r.channel(room))
	} else {
		err = p.ps.Unsubscribe(r.ctx, r.channel(room))
	}
	if err != nil {
		r.log.Debug("bus: unsubscribe", zap.Int64("room", room), zap.Error(err))
	}
}

// PublishMessages sends committed messages to the other instances, one
// publication per room, pipelined.
func (r *Redis) PublishMessages(ctx context.Context, msgs []chatcore.Message, committed time.Time) error {
	if len(msgs) == 0 {
		return nil
	}
	byRoom := make(map[int64][]chatcore.Message)
	var order []int64
	for _, m := range msgs {
		if _, ok := byRoom[m.Room]; !ok {
			order = append(order, m.Room)
		}
		byRoom[m.Room] = append(byRoom[m.Room], m)
	}
	envs := make([]envelope, 0, len(order))
	for _, room := range order {
		envs = append(envs, envelope{Kind: "m", Instance: r.cfg.Instance, Committed: committed.UnixNano(), Messages: byRoom[room]})
	}
	err := r.publish(ctx, order, envs)
	if err == nil {
		r.obs.Published("message", len(msgs))
	}
	return err
}

// PublishTyping sends a typing event to the other instances.
func (r *Redis) PublishTyping(ctx context.Context, room, user int64) error {
	err := r.publish(ctx, []int64{room}, []envelope{{Kind: "t", Instance: r.cfg.Instance, Room: room, User: user}})
	if err == nil {
		r.obs.Published("typing", 1)
	}
	return err
}

// PublishPresence sends a presence change to the other instances.
func (r *Redis) PublishPresence(ctx context.Context, room, user int64, online bool) error {
	err := r.publish(ctx, []int64{room}, []envelope{{Kind: "p", Instance: r.cfg.Instance, Room: room, User: user, Online: online}})
	if err == nil {
		r.obs.Published("presence", 1)
	}
	return err
}

// PublishInbox sends an event meant for one user to the instances
// watching the user's inbox.
func (r *Redis) PublishInbox(ctx context.Context, user int64, event []byte) error {
	err := r.publish(ctx, []int64{Inbox(user)}, []envelope{{Kind: "n", Instance: r.cfg.Instance, User: user, Data: event}})
	if err == nil {
		r.obs.Published("inbox", 1)
	}
	return err
}

func (r *Redis) publish(ctx context.Context, rooms []int64, envs []envelope) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.PublishTimeout)
	defer cancel()
	start := time.Now()
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, room := range rooms {
			b, err := json.Marshal(envs[i])
			if err != nil {
				return err
			}
			if r.cluster {
				p.SPublish(ctx, r.channel(room), b)
			} else {
				p.Publish(ctx, r.channel(room), b)
			}
		}
		return nil
	})
	r.obs.RedisCall("publish", time.Since(start), err)
	if err != nil {
		r.reloadSlots()
		return fmt.Errorf("bus: publish: %w", err)
	}
	return nil
}

// resubscribeBackoff bounds the wait between two attempts to get a broken
// subscriber connection back. Short, because the rooms of a broken
// partition hear of other instances' messages only through gaps and the
// store until it is back; an attempt costs one dial.
const resubscribeBackoff = 500 * time.Millisecond

// reloadSlots asks a cluster client to refresh its slot map (in the
// background; go-redis coalesces the calls). When a master dies its
// replica takes its slots over, but go-redis's map goes on naming the dead
// node until something refreshes it: a MOVED reply (a dead node gives
// none) or a command on a map older than 10 s (a subscriber connection
// sends none). Until then every publish to those slots and every attempt
// to resubscribe dials the dead node. Nothing on a single server.
func (r *Redis) reloadSlots() {
	if cc, ok := r.rdb.(*redis.ClusterClient); ok {
		cc.ReloadState(r.ctx)
	}
}

// readLoop receives from one partition's connection until Close. A receive
// error means the connection dropped: go-redis reconnects and resubscribes
// on the next Receive, and the partition's rooms are resynced once it has.
func (r *Redis) readLoop(p *partition) {
	defer r.wg.Done()
	broken := false
	backoff := 50 * time.Millisecond
	for {
		msg, err := p.ps.Receive(r.ctx)
		if err != nil {
			if r.ctx.Err() != nil {
				return
			}
			if !broken {
				r.log.Warn("bus: redis receive failed; resubscribing", zap.Int("partition", p.idx), zap.Error(err))
			}
			broken = true
			// A dead cluster master: the next attempt must find its
			// replica, which the slot map learns only when refreshed.
			r.reloadSlots()
			select {
			case <-time.After(backoff):
			case <-r.ctx.Done():
				return
			}
			backoff = min(backoff*2, resubscribeBackoff)
			continue
		}
		backoff = 50 * time.Millisecond
		switch m := msg.(type) {
		case *redis.Subscription:
			if broken {
				broken = false
				r.resyncPartition(p)
			}
		case *redis.Message:
			r.dispatch(m)
		}
	}
}

func (r *Redis) resyncPartition(p *partition) {
	r.mu.Lock()
	rooms := make([]int64, 0, len(p.rooms))
	for id := range p.rooms {
		rooms = append(rooms, id)
	}
	rs := r.resync
	r.mu.Unlock()
	r.log.Info("bus: redis back; backfilling rooms", zap.Int("partition", p.idx), zap.Int("rooms", len(rooms)))
	if rs != nil && len(rooms) > 0 {
		rs.Resync(rooms)
	}
}

func (r *Redis) dispatch(m *redis.Message) {
	var env envelope
	if err := json.Unmarshal([]byte(m.Payload), &env); err != nil {
		r.log.Warn("bus: bad payload", zap.String("channel", m.Channel), zap.Error(err))
		return
	}
	if env.Instance == r.cfg.Instance {
		return // delivered locally before it was published
	}
	r.mu.Lock()
	h := r.h
	r.mu.Unlock()
	if h == nil {
		return
	}
	switch env.Kind {
	case "m":
		committed := time.Unix(0, env.Committed)
		r.obs.Received("message", len(env.Messages), time.Since(committed))
		h.OnMessages(env.Messages, committed)
	case "t":
		room := env.Room
		if room == 0 {
			room, _ = roomOf(m.Channel)
		}
		r.obs.Received("typing", 1, 0)
		h.OnTyping(room, env.User)
	case "p":
		r.obs.Received("presence", 1, 0)
		h.OnPresence(env.Room, env.User, env.Online)
	case "n":
		if ih, ok := h.(InboxHandler); ok {
			r.obs.Received("inbox", 1, 0)
			ih.OnInbox(env.User, env.Data)
		}
	}
}

var _ Bus = (*Redis)(nil)
