package cachemw

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a Storage shared by every instance. Keys: <prefix>e:<hash> for
// entries, <prefix>t:<tag> for tag versions, <prefix>b:<sha256> for the
// entries of refMin bytes or more, which the entry key then only names
// (redis_bodies.go). Each lookup is one pipelined round trip (GET entry +
// GET each tag; a large entry this instance has not read before takes a
// second); plain GETs rather than MGET so the pipeline also works on Redis
// Cluster, where tags live in other slots.
type Redis struct {
	rdb    redis.UniversalClient
	prefix string
	local  *Memory // the local copies of large entries (redis_bodies.go)
}

// NewRedis returns a storage on rdb under prefix (e.g. "chatgate:http:").
// It does no I/O.
func NewRedis(rdb redis.UniversalClient, prefix string) *Redis {
	return &Redis{rdb: rdb, prefix: prefix, local: NewMemory(localBodyBytes)}
}

func (s *Redis) entryKey(key string) string { return s.prefix + "e:" + key }
func (s *Redis) tagKey(tag string) string   { return s.prefix + "t:" + tag }

// Lookup implements Storage. A tag with no version gets one with SET NX GET
// (a second round trip, only the first time a tag is seen or after it
// expired), so concurrent instances agree on the value.
func (s *Redis) Lookup(ctx context.Context, key string, tags []string) ([]byte, []string, error) {
	pipe := s.rdb.Pipeline()
	get := pipe.Get(ctx, s.entryKey(key))
	tagCmds := make([]*redis.StringCmd, len(tags))
	for i, t := range tags {
		tagCmds[i] = pipe.Get(ctx, s.tagKey(t))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, nil, fmt.Errorf("cachemw: redis lookup: %w", err)
	}
	versions := make([]string, len(tags))
	var missing []int
	for i, c := range tagCmds {
		v, err := c.Result()
		switch {
		case err == nil:
			versions[i] = v
		case errors.Is(err, redis.Nil):
			missing = append(missing, i)
		default:
			return nil, nil, fmt.Errorf("cachemw: redis tag %q: %w", tags[i], err)
		}
	}
	if len(missing) > 0 {
		if err := s.initTags(ctx, tags, versions, missing); err != nil {
			return nil, nil, err
		}
	}
	raw, err := get.Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, versions, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("cachemw: redis get: %w", err)
	}
	body, err := s.resolve(ctx, raw)
	if err != nil {
		return nil, nil, err
	}
	return body, versions, nil
}

func (s *Redis) initTags(ctx context.Context, tags, versions []string, missing []int) error {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StatusCmd, len(missing))
	fresh := make([]string, len(missing))
	for j, i := range missing {
		fresh[j] = NewVersion()
		cmds[j] = pipe.SetArgs(ctx, s.tagKey(tags[i]), fresh[j], redis.SetArgs{Mode: "NX", Get: true, TTL: TagTTL})
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("cachemw: redis init tags: %w", err)
	}
	for j, i := range missing {
		old, err := cmds[j].Result()
		switch {
		case errors.Is(err, redis.Nil): // we set it
			versions[i] = fresh[j]
		case err == nil: // someone else did first
			versions[i] = old
		default:
			return fmt.Errorf("cachemw: redis init tag %q: %w", tags[i], err)
		}
	}
	return nil
}

// Store implements Storage.
func (s *Redis) Store(ctx context.Context, key string, entry []byte, ttl time.Duration) error {
	if len(entry) >= refMin {
		return s.storeByRef(ctx, key, entry, ttl)
	}
	if err := s.rdb.Set(ctx, s.entryKey(key), entry, ttl).Err(); err != nil {
		return fmt.Errorf("cachemw: redis set: %w", err)
	}
	return nil
}

// Bump implements Storage: one pipelined SET per tag.
func (s *Redis) Bump(ctx context.Context, tags []string) error {
	if len(tags) == 0 {
		return nil
	}
	pipe := s.rdb.Pipeline()
	for _, t := range tags {
		pipe.Set(ctx, s.tagKey(t), NewVersion(), TagTTL)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("cachemw: redis bump: %w", err)
	}
	return nil
}

// Seq versions (Sequencer) are compared and set by scripts: one key each,
// so they also run on Redis Cluster. Lua numbers are doubles: exact for
// seqs below 2^53.
var (
	advanceScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
local n = nil
if cur then n = tonumber(string.match(cur, '^s(%d+)%-')) end
if not n then
  redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[4])
  return 1
end
if n >= tonumber(ARGV[1]) then
  redis.call('EXPIRE', KEYS[1], ARGV[4])
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[4])
return 1`)
	settleScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1`)
)

// Advance implements Sequencer: one pipelined script call per tag (the
// script is loaded first if Redis does not have it).
func (s *Redis) Advance(ctx context.Context, tags []string, seqs []int64, epoch string) error {
	if len(tags) == 0 {
		return nil
	}
	ttl := strconv.FormatInt(int64(TagTTL/time.Second), 10)
	run := func() error {
		pipe := s.rdb.Pipeline()
		for i, t := range tags {
			advanceScript.EvalSha(ctx, pipe, []string{s.tagKey(t)},
				strconv.FormatInt(seqs[i], 10), SeqVersion(seqs[i], epoch), NewVersion(), ttl)
		}
		_, err := pipe.Exec(ctx)
		return err
	}
	err := run()
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		if err = advanceScript.Load(ctx, s.rdb).Err(); err == nil {
			err = run()
		}
	}
	if err != nil {
		return fmt.Errorf("cachemw: redis advance: %w", err)
	}
	return nil
}

// Settle implements Sequencer.
func (s *Redis) Settle(ctx context.Context, tag, old string, seq int64, epoch string) (bool, error) {
	n, err := settleScript.Run(ctx, s.rdb, []string{s.tagKey(tag)}, old, SeqVersion(seq, epoch),
		strconv.FormatInt(int64(TagTTL/time.Second), 10)).Int()
	if err != nil {
		return false, fmt.Errorf("cachemw: redis settle: %w", err)
	}
	return n == 1, nil
}
