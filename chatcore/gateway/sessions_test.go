package gateway

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/chatclient"
	"github.com/chatgate/chatgate/chatcore/auth"
	"github.com/chatgate/chatgate/internal/testenv"
)

// TestEndSessionsWhileRedisDown: with Redis gone no invalidation travels.
// The other instance still refuses the ended token at once (with the bus
// down its in-process level is bypassed, so the generation comes from
// Postgres), and closes the socket opened with it within its detection of
// the lost channel (a ping every 2 s) and one sweep; a token issued under
// the new generation is accepted.
func TestEndSessionsWhileRedisDown(t *testing.T) {
	rs := testenv.StartRedis(t)
	newClient := func() redis.UniversalClient { return outageClient(rs) }
	a, b := startInstance(t, "a", newClient()), startInstance(t, "b", newClient())
	ctx := context.Background()
	user, err := a.core.Store.CreateUser(ctx, "Ended", fmt.Sprintf("ended.%d@example.test", time.Now().UnixNano()), "x")
	if err != nil {
		t.Fatal(err)
	}
	old, _ := b.core.Signer.Issue(user.ID, user.Name)
	// Warm b's cached generation: an answer it must stop trusting.
	if _, err := b.core.Authenticate(ctx, old); err != nil {
		t.Fatalf("before: %v", err)
	}
	p := b.dial(t, user)

	rs.Stop()
	start := time.Now()
	u, err := a.core.EndSessions(ctx, user.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	// b notices the lost channel within its ping period; from then on it
	// reads the generation from Postgres.
	deadline := time.Now().Add(8 * time.Second)
	for {
		_, err := b.core.Authenticate(ctx, old)
		if errors.Is(err, auth.ErrEndedToken) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b still accepts the ended token with Redis down: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	refused := time.Since(start)
	cctx, cancel := context.WithTimeout(ctx, 8*time.Second)
	defer cancel()
	for {
		if _, err := p.conn.Next(cctx); err != nil {
			if code := chatclient.CloseCode(err); code != 4401 {
				t.Fatalf("socket ended with %v (code %d), want 4401", err, code)
			}
			break
		}
	}
	t.Logf("with Redis down: the ended token refused on the other instance after %v, its socket closed after %v",
		refused.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	fresh, _ := b.core.Signer.IssueGen(user.ID, user.Name, u.TokenGen)
	if _, err := b.core.Authenticate(ctx, fresh); err != nil {
		t.Fatalf("a token of the new generation: %v", err)
	}
}
