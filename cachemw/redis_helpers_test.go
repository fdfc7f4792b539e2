package cachemw

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// testRedisDB is the machine Redis's database these tests use; every test
// also has its own key prefix, so concurrent packages never collide.
const testRedisDB = 11

func sharedRedis(t testing.TB) redis.UniversalClient {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", DB: testRedisDB})
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("redis on 127.0.0.1:6379: %v", err)
	}
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func testPrefix(t testing.TB) string {
	return fmt.Sprintf("test:cachemw:%s:%d:", t.Name(), time.Now().UnixNano())
}
