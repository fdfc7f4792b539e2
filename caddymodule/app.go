// Package caddymodule adapts Chatgate to Caddy: the `chat` app owns the
// shared pools (Postgres, Redis, hub, batcher) through a caddy.UsagePool so
// they survive config reloads, and the `chat` HTTP handler serves the REST
// API and WebSocket endpoint of one site.
package caddymodule

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/chatgate/chatgate/chatcore/auth"
	"github.com/chatgate/chatgate/chatcore/gateway"
	"github.com/chatgate/chatgate/chatcore/hub"
	"github.com/chatgate/chatgate/chatcore/metrics"
	"github.com/chatgate/chatgate/chatcore/store"
)

func init() {
	caddy.RegisterModule(App{})
}

// cores holds one gateway core per distinct app configuration. A reload
// that leaves the app config alone reuses the core (its pools, hub state and
// batcher); the old config's Cleanup only drops a reference.
var cores = caddy.NewUsagePool()

// App is the `chat` app: the chat service shared by every site of the
// process. Configure it with the `chat` global option.
type App struct {
	// Postgres is the primary's DSN. Placeholders such as {env.X} expand.
	Postgres string `json:"postgres,omitempty"`
	// PostgresReplica is an optional read replica DSN for history reads.
	PostgresReplica string `json:"postgres_replica,omitempty"`
	// Redis is redis://host:port/db, or a comma list of cluster nodes; empty
	// runs one node on the memory bus.
	Redis string `json:"redis,omitempty"`
	// RedisPrefix starts every Redis key and channel of this deployment,
	// so several can share one Redis without seeing each other's caches,
	// rooms, limits or presence. Every instance of a deployment must use
	// the same. Default: "chatgate:<database>-<hash>:", the hash over the
	// postgres host:port and database name (gateway.DefaultRedisPrefix).
	// It must not contain { or }.
	RedisPrefix string `json:"redis_prefix,omitempty"`
	// Secret signs tokens; every instance must share it.
	Secret string `json:"secret,omitempty"`
	// SecretFile holds the secret when Secret is empty; it is created with a
	// random secret if missing.
	SecretFile string `json:"secret_file,omitempty"`
	// PreviousSecrets, a comma list, are keys tokens were signed with
	// before the current one: still accepted, never used to sign. Keep one
	// for a token TTL after a rotation, then drop it.
	PreviousSecrets string `json:"previous_secrets,omitempty"`
	// Instance names this instance in logs and metrics (default: hostname).
	Instance string `json:"instance,omitempty"`
	// PoolSize is the Postgres pool size (default 16).
	PoolSize int `json:"pool_size,omitempty"`
	// StatementTimeout is Postgres's statement_timeout (default 5s).
	StatementTimeout caddy.Duration `json:"statement_timeout,omitempty"`
	// SlowQuery is the slow-query log threshold (default 50ms).
	SlowQuery caddy.Duration `json:"slow_query,omitempty"`
	// BatchMax caps messages per write transaction (default 512).
	BatchMax int `json:"batch_max,omitempty"`
	// BatchWorkers is the number of concurrent write transactions (2).
	BatchWorkers int `json:"batch_workers,omitempty"`
	// TokenTTL is how long issued tokens live (default 24h).
	TokenTTL caddy.Duration `json:"token_ttl,omitempty"`
	// PasswordMemoryKiB is argon2id's memory cost per hash, in KiB
	// (default 19456).
	PasswordMemoryKiB uint32 `json:"password_memory_kib,omitempty"`
	// PasswordTime is argon2id's time cost, in passes (default 2).
	PasswordTime uint32 `json:"password_time,omitempty"`
	// PasswordConcurrency caps password hashes running at once (default
	// GOMAXPROCS): each holds password_memory_kib of memory.
	PasswordConcurrency int `json:"password_concurrency,omitempty"`
	// PasswordQueue is how many registers and logins may wait for a
	// hashing slot (default 4 × password_concurrency, at least 8; -1, `off`
	// in a Caddyfile: none); past it they get 503 with Retry-After.
	PasswordQueue int `json:"password_queue,omitempty"`
	// RecentBuffer is how many recent messages each active room keeps in
	// memory for resumes (default 256).
	RecentBuffer int `json:"recent_buffer,omitempty"`
	// SearchLanguage is the text search configuration new messages are
	// analysed with for search (default "english"; any name in
	// pg_ts_config). Every instance of a deployment must have the same.
	SearchLanguage string `json:"search_language,omitempty"`
	// StartTimeout bounds start-up (migrations; waiting for Postgres), 60s.
	StartTimeout caddy.Duration `json:"start_timeout,omitempty"`
	// FilesDir is where uploaded files are kept (default .data/files; the
	// shipped Caddyfile: under CHATGATE_DATA_DIR).
	FilesDir string `json:"files_dir,omitempty"`
	// UnattachedFileTTL is how long an upload may wait for a message
	// before the sweep deletes it (default 24h).
	UnattachedFileTTL caddy.Duration `json:"unattached_file_ttl,omitempty"`

	core    *gateway.Core
	poolKey string
	logger  *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "chat", New: func() caddy.Module { return new(App) }}
}

type coreRef struct{ core *gateway.Core }

func (c coreRef) Destruct() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return c.core.Stop(ctx)
}

// Provision sets up the app without network I/O (`caddy validate` runs it).
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	repl := caddy.NewReplacer()
	for _, s := range []*string{&a.Postgres, &a.PostgresReplica, &a.Redis, &a.RedisPrefix, &a.Secret, &a.SecretFile, &a.PreviousSecrets, &a.Instance, &a.SearchLanguage, &a.FilesDir} {
		*s = strings.TrimSpace(repl.ReplaceAll(*s, ""))
	}
	if a.Postgres == "" {
		a.Postgres = "postgres://postgres@127.0.0.1:5432/chatgate?sslmode=disable"
	}
	if a.Instance == "" {
		a.Instance, _ = os.Hostname()
	}
	if a.RedisPrefix == "" {
		// Set here, not left to the gateway, so chat_cache can default
		// its prefix to this one and the core's pool key includes it.
		p, err := gateway.DefaultRedisPrefix(a.Postgres)
		if err != nil {
			return fmt.Errorf("chat: %w", err)
		}
		a.RedisPrefix = p
	}
	if err := gateway.CheckRedisPrefix(a.RedisPrefix); err != nil {
		return fmt.Errorf("chat: %w", err)
	}
	if err := metrics.Default().Register(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("chat: register metrics: %w", err)
	}
	secret, err := a.loadSecret()
	if err != nil {
		return err
	}
	cfg := gateway.Config{
		Store: store.Config{
			DSN:              a.Postgres,
			ReplicaDSN:       a.PostgresReplica,
			MaxConns:         int32(a.PoolSize),
			StatementTimeout: time.Duration(a.StatementTimeout),
			SlowQuery:        time.Duration(a.SlowQuery),
			BatchMax:         a.BatchMax,
			BatchWorkers:     a.BatchWorkers,
			SearchLanguage:   a.SearchLanguage,
		},
		Hub:                 hub.Config{RecentSize: a.RecentBuffer},
		Secret:              secret,
		PreviousSecrets:     a.previousSecrets(),
		TokenTTL:            time.Duration(a.TokenTTL),
		Password:            auth.PasswordParams{MemoryKiB: a.PasswordMemoryKiB, Time: a.PasswordTime, Threads: 1},
		PasswordConcurrency: a.PasswordConcurrency,
		PasswordQueue:       a.PasswordQueue,
		Instance:            a.Instance,
		Logger:              a.logger,
		RedisPrefix:         a.RedisPrefix,
		FilesDir:            a.FilesDir,
		UnattachedFileTTL:   time.Duration(a.UnattachedFileTTL),
	}
	if cfg.Password.MemoryKiB == 0 {
		cfg.Password = auth.DefaultPasswordParams
	} else if cfg.Password.Time == 0 {
		cfg.Password.Time = auth.DefaultPasswordParams.Time
	}
	rdb, err := newRedisClient(a.Redis, appRedisTimeouts)
	if err != nil {
		return fmt.Errorf("chat: %w", err)
	}
	cfg.Redis = rdb
	if rdb != nil {
		a.logger.Info("chat: redis keys and channels under a prefix", zap.String("prefix", a.RedisPrefix))
	}
	key, err := a.key(secret)
	if err != nil {
		return err
	}
	val, loaded, err := cores.LoadOrNew(key, func() (caddy.Destructor, error) {
		core, err := gateway.New(cfg)
		if err != nil {
			return nil, err
		}
		return coreRef{core}, nil
	})
	if rdb != nil && (loaded || err != nil) {
		_ = rdb.Close() // the pooled core has its own client
	}
	if err != nil {
		return fmt.Errorf("chat: %w", err)
	}
	a.poolKey = key
	a.core = val.(coreRef).core
	return nil
}

// key identifies a configuration: the same key shares one core. The secret
// goes in hashed so it never appears in logs.
func (a *App) key(secret []byte) (string, error) {
	cfg := *a
	cfg.Secret, cfg.SecretFile, cfg.PreviousSecrets = "", "", ""
	b, err := json.Marshal(cfg)
	if err != nil {
		return "", fmt.Errorf("chat: config key: %w", err)
	}
	h := sha256.New()
	h.Write(b)
	h.Write(secret)
	for _, p := range a.previousSecrets() {
		h.Write([]byte{0})
		h.Write(p)
	}
	return "chat:" + hex.EncodeToString(h.Sum(nil)), nil
}

func (a *App) previousSecrets() [][]byte {
	var out [][]byte
	for _, p := range strings.Split(a.PreviousSecrets, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, []byte(p))
		}
	}
	return out
}

func (a *App) loadSecret() ([]byte, error) {
	if a.Secret != "" {
		return []byte(a.Secret), nil
	}
	if a.SecretFile == "" {
		return nil, nil // gateway generates an ephemeral one and warns
	}
	b, err := os.ReadFile(a.SecretFile)
	if err == nil {
		if s := strings.TrimSpace(string(b)); s != "" {
			return []byte(s), nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("chat: read secret_file: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("chat: generate secret: %w", err)
	}
	s := hex.EncodeToString(raw)
	if err := os.MkdirAll(filepath.Dir(a.SecretFile), 0o700); err != nil {
		return nil, fmt.Errorf("chat: create secret_file dir: %w", err)
	}
	if err := os.WriteFile(a.SecretFile, []byte(s+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("chat: write secret_file: %w", err)
	}
	a.logger.Info("chat: generated a new secret", zap.String("file", a.SecretFile))
	return []byte(s), nil
}

// Validate checks the configuration.
func (a *App) Validate() error {
	if a.PoolSize < 0 || a.BatchMax < 0 || a.BatchWorkers < 0 || a.RecentBuffer < 0 {
		return errors.New("chat: sizes must not be negative")
	}
	if a.Secret != "" && len(a.Secret) < 16 {
		return errors.New("chat: secret must be at least 16 bytes")
	}
	for _, p := range a.previousSecrets() {
		if len(p) < 16 {
			return errors.New("chat: each of previous_secrets must be at least 16 bytes")
		}
	}
	return nil
}

// Start connects: it runs migrations (waiting for Postgres up to
// start_timeout) and starts the batcher and bus. A reload that kept the
// core finds it started already.
func (a *App) Start() error {
	timeout := time.Duration(a.StartTimeout)
	if timeout <= 0 {
		timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		err := a.core.Start(ctx)
		if err == nil {
			return nil
		}
		a.logger.Warn("chat: start failed, retrying", zap.Error(err))
		select {
		case <-ctx.Done():
			return fmt.Errorf("chat: start: %w", err)
		case <-time.After(time.Second):
		}
	}
}

// Stop does nothing: the core lives in the usage pool and is stopped when
// its last configuration is cleaned up.
func (a *App) Stop() error { return nil }

// Cleanup releases this configuration's reference to the core.
func (a *App) Cleanup() error {
	if a.poolKey == "" {
		return nil
	}
	_, err := cores.Delete(a.poolKey)
	a.poolKey = ""
	return err
}

// Core is the gateway core handlers use.
func (a *App) Core() *gateway.Core { return a.core }

// Interface guards
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.Validator    = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)
