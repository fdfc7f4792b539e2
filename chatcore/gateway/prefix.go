package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Every Redis key and channel of a deployment starts with its prefix
// (Config.RedisPrefix), so deployments sharing one Redis never read each
// other's entries: a profile cached for user 1 of one database is not user
// 1 of another. Pub/sub channels are global to a Redis server, whatever
// the database number in the URL, so the prefix is the only separation
// they have. Under the prefix:
//
//	{pN}:room:<id>                  room channels (bus; {pN} is the cluster hash tag)
//	entity:v1:<cache>:<id>[:gen]    entity caches, entity:v1:epoch, entity:v1:invalidate
//	rl:<key>                        rate-limit buckets
//	conns:{<key>}[:<instance>]      connection counts
//	presence:{<room>}               presence, presence:instances, presence:rooms:{<instance>}
//	http:e:<hash>, http:t:<tag>     chat_cache responses and tag versions (its default prefix)

// DefaultRedisPrefix is the prefix of a deployment whose Postgres is dsn:
// "chatgate:<database>-<hash>:", hash being 12 hex digits of SHA-256 over
// the sorted host:port list and the database name. The name alone is not
// enough: every default install calls its database "chatgate", so two
// deployments on different Postgres servers would still share entries. The
// user, password and options are left out, so instances that log in
// differently to the same database still share a bus. Instances must name
// the host the same way (an IP and a hostname hash differently): set
// redis_prefix explicitly where they do not, or where the database may
// move host.
func DefaultRedisPrefix(dsn string) (string, error) {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return "", fmt.Errorf("gateway: redis prefix from postgres dsn: %w", err)
	}
	hosts := []string{hostPort(cfg.Host, cfg.Port)}
	for _, f := range cfg.Fallbacks {
		hosts = append(hosts, hostPort(f.Host, f.Port))
	}
	// The fallbacks repeat a host per TLS mode tried, and a host list's
	// order does not change the database.
	slices.Sort(hosts)
	hosts = slices.Compact(hosts)
	sum := sha256.Sum256([]byte(strings.Join(hosts, ",") + "/" + cfg.Database))
	return "chatgate:" + safeName(cfg.Database) + "-" + hex.EncodeToString(sum[:6]) + ":", nil
}

func hostPort(host string, port uint16) string {
	return strings.ToLower(host) + ":" + strconv.Itoa(int(port))
}

// safeName keeps a database name readable in keys, without the characters
// that mean something to Redis: braces (cluster hash tags) and glob
// metacharacters (SCAN MATCH, PSUBSCRIBE).
func safeName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			b[i] = '_'
		}
	}
	if len(b) > 32 {
		b = b[:32]
	}
	return string(b)
}

// CheckRedisPrefix rejects a prefix that would break the key layout: a
// brace would become the cluster hash tag of every key (one slot for all,
// and the bus's partitions gone), and an empty one separates nothing.
func CheckRedisPrefix(p string) error {
	if p == "" {
		return fmt.Errorf("gateway: redis prefix must not be empty")
	}
	if strings.ContainsAny(p, "{}") {
		return fmt.Errorf("gateway: redis prefix %q must not contain { or } (Redis Cluster hash tags)", p)
	}
	return nil
}

// redisPrefix is cfg's prefix, derived from the Postgres DSN when unset.
func redisPrefix(cfg Config) (string, error) {
	p := cfg.RedisPrefix
	if p == "" {
		var err error
		if p, err = DefaultRedisPrefix(cfg.Store.DSN); err != nil {
			return "", err
		}
	}
	return p, CheckRedisPrefix(p)
}

// RedisPrefix starts every Redis key and channel of this deployment.
func (c *Core) RedisPrefix() string { return c.cfg.RedisPrefix }
