package bus

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/chatcore"
)

// recorder is a Handler that hands over the message bodies it receives.
type recorder struct{ bodies chan string }

func (r recorder) OnMessages(msgs []chatcore.Message, _ time.Time) {
	for _, m := range msgs {
		r.bodies <- m.Body
	}
}
func (recorder) OnTyping(int64, int64)         {}
func (recorder) OnPresence(int64, int64, bool) {}

func startBus(t *testing.T, rdb redis.UniversalClient, prefix, instance string, room int64) recorder {
	t.Helper()
	rec := recorder{bodies: make(chan string, 16)}
	b := NewRedis(RedisConfig{Client: rdb, Prefix: prefix, Instance: instance})
	b.Watch(room)
	if err := b.Start(rec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return rec
}

// Two deployments on one Redis use room 7 each: a message of one reaches
// the other instance of its own deployment, never the other deployment.
func TestRedisPrefixSeparatesDeployments(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("redis on 127.0.0.1:6379: %v", err)
	}
	run := fmt.Sprintf("chatgate:test:bus:%d:", time.Now().UnixNano())
	const room = 7
	a2 := startBus(t, rdb, run+"a:", "a2", room)
	b1 := startBus(t, rdb, run+"b:", "b1", room)
	a1 := NewRedis(RedisConfig{Client: rdb, Prefix: run + "a:", Instance: "a1"})
	t.Cleanup(func() { _ = a1.Close() })

	// Both subscribers are up once PUBSUB CHANNELS lists their channels.
	want := []string{run + "a:{p0}:room:7", run + "b:{p0}:room:7"}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		chans, err := rdb.PubSubChannels(ctx, run+"*").Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(chans) == 2 && (chans[0] == want[0] && chans[1] == want[1] || chans[0] == want[1] && chans[1] == want[0]) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("channels %q, want %q", chans, want)
		}
	}
	msg := chatcore.Message{Room: room, Seq: 1, Body: "for deployment a", TS: time.Now()}
	if err := a1.PublishMessages(ctx, []chatcore.Message{msg}, time.Now()); err != nil {
		t.Fatal(err)
	}
	select {
	case body := <-a2.bodies:
		if body != msg.Body {
			t.Fatalf("a2 got %q", body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a2, of the same deployment, did not get the message")
	}
	select {
	case body := <-b1.bodies:
		t.Fatalf("deployment b got deployment a's message %q", body)
	case <-time.After(200 * time.Millisecond):
	}
}
