package gateway

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/chatcore"
	"github.com/chatgate/chatgate/internal/netcut"
	"github.com/chatgate/chatgate/internal/testenv"
)

// presenceEvent is a presence frame a peer received.
type presenceEvent struct {
	Room, User int64
	Online     bool
}

// nextPresence waits for p's next presence event.
func (p *peer) nextPresence(t testing.TB, within time.Duration) presenceEvent {
	t.Helper()
	e := p.want(t, "presence", within)
	return presenceEvent{Room: e.Room, User: e.User.ID, Online: e.Online}
}

// TestPresenceReapsLostInstance: an instance that stops beating (here: its
// Redis connections cut, as a crash looks to the others) has its users
// pushed offline by a survivor within a few beats, and a user who also has
// a connection on the survivor stays online. When the lost instance comes
// back it finds itself reaped and pushes its users online again.
func TestPresenceReapsLostInstance(t *testing.T) {
	beat, dead := presenceBeat, presenceDead
	presenceBeat, presenceDead = 100*time.Millisecond, 500*time.Millisecond
	t.Cleanup(func() { presenceBeat, presenceDead = beat, dead })

	rs := testenv.StartRedis(t)
	link := &netcut.Link{}
	a := startInstance(t, "a", redis.NewClient(&redis.Options{Addr: rs.Addr(), Dialer: link.Dial, MaxRetries: -1}))
	b := startInstance(t, "b", redis.NewClient(&redis.Options{Addr: rs.Addr()}))
	ctx := context.Background()
	ann, rooms := seedUsersAndRoom(t, a.core.Store, 1)
	room := rooms[0]
	member := func(name string) chatcore.User {
		u, err := a.core.Store.CreateUser(ctx, name, fmt.Sprintf("%s.%d@example.test", name, time.Now().UnixNano()), "x")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.core.Store.Join(ctx, room, u.ID, chatcore.RoleMember); err != nil {
			t.Fatal(err)
		}
		return u
	}
	bob, dan := member("bob"), member("dan")

	watcher := b.dial(t, bob)
	watcher.subscribe(t, room)
	want := func(user int64, online bool) {
		t.Helper()
		if e := watcher.nextPresence(t, 10*time.Second); e.User != user || e.Online != online || e.Room != room {
			t.Fatalf("got %+v, want user %d online %v", e, user, online)
		}
	}
	quiet := func(about string) {
		t.Helper()
		time.Sleep(3 * presenceBeat)
		for {
			e, ok := watcher.poll()
			if !ok {
				return
			}
			if e.Type == "presence" {
				t.Fatalf("a presence event for %s: %+v", about, e)
			}
		}
	}
	a.dial(t, ann).subscribe(t, room)
	want(ann.ID, true)
	a.dial(t, dan).subscribe(t, room)
	want(dan.ID, true)
	b.dial(t, dan).subscribe(t, room) // dan is on both instances
	want(dan.ID, true)                // (each instance tells of its first)

	cut := time.Now()
	link.Cut(true)
	want(ann.ID, false)
	t.Logf("offline pushed %v after the instance was lost (beat %v, dead after %v)", time.Since(cut).Round(time.Millisecond), presenceBeat, presenceDead)
	quiet("a user still online elsewhere")
	users, err := b.core.Online(ctx, room)
	slices.Sort(users)
	if err != nil || !slices.Equal(users, []int64{bob.ID, dan.ID}) {
		t.Fatalf("online after the reap: %v %v, want bob %d and dan %d", users, err, bob.ID, dan.ID)
	}

	link.Cut(false)
	want(ann.ID, true) // and not dan, whom nobody took offline
	quiet("a user nobody took offline")
	users, err = b.core.Online(ctx, room)
	if err != nil || !slices.Contains(users, ann.ID) {
		t.Fatalf("online after the instance came back: %v %v", users, err)
	}
}
