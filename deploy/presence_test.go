package deploy_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/chatgate/chatgate/internal/testenv"
)

// TestPresenceAfterCrash: two gateway processes (the built binary, the
// shipped Caddyfile) share a private Redis. One is killed with SIGKILL, so
// it says nothing; the survivor must push "offline" for the users who were
// only there within a few heartbeats (not the entries' 60 s expiry), keep a
// user who also has a connection on the survivor online, and list only
// the living in GET /api/rooms/{id}/presence.
func TestPresenceAfterCrash(t *testing.T) {
	root, tmp, bin, redisURL, web := lbCluster(t)
	doomed := lbStartGateway(t, bin, root, tmp, "doomed", web, redisURL)
	survivor := lbStartGateway(t, bin, root, tmp, "survivor", web, redisURL)
	for _, g := range []*lbGateway{doomed, survivor} {
		testenv.WaitHTTP(t, "http://"+g.addr+"/readyz", 200, 60*time.Second)
	}
	d, s := "http://"+doomed.addr, "http://"+survivor.addr

	ann, bob, dan := lbRegister(t, s, "ann"), lbRegister(t, s, "bob"), lbRegister(t, s, "dan")
	room := lbCreateRoom(t, s, ann.Token, "presence")
	for _, u := range []lbUser{bob, dan} {
		lbDo(t, "POST", fmt.Sprintf("%s/api/rooms/%d/join", s, room), u.Token, nil, 200)
	}
	isPresence := func(user int64, online bool) func(lbEvent) bool {
		return func(e lbEvent) bool {
			return e.Type == "presence" && e.Room == room && e.User.ID == user && e.Online == online
		}
	}
	watcher := lbDial(t, s, bob.Token)
	watcher.name = "bob"
	watcher.subscribe(t, room, nil)
	lbDial(t, d, ann.Token).subscribe(t, room, nil)
	watcher.waitFor(t, "ann online", isPresence(ann.ID, true), 10*time.Second)
	lbDial(t, d, dan.Token).subscribe(t, room, nil)
	lbDial(t, s, dan.Token).subscribe(t, room, nil)
	watcher.waitFor(t, "dan online", isPresence(dan.ID, true), 10*time.Second)

	killed := time.Now()
	doomed.proc.Signal(syscall.SIGKILL)
	if !doomed.proc.Wait(10 * time.Second) {
		t.Fatal("SIGKILL: the gateway did not exit")
	}
	watcher.waitFor(t, "ann offline", isPresence(ann.ID, false), 30*time.Second)
	took := time.Since(killed)
	t.Logf("ann pushed offline %v after SIGKILL", took.Round(time.Millisecond))
	if took > 20*time.Second {
		t.Fatalf("offline after %v: the reaper should act within a few heartbeats", took)
	}
	var p struct {
		Online []int64 `json:"online"`
	}
	if err := json.Unmarshal(lbDo(t, "GET", fmt.Sprintf("%s/api/rooms/%d/presence", s, room), bob.Token, nil, 200), &p); err != nil {
		t.Fatal(err)
	}
	slices.Sort(p.Online)
	if want := []int64{bob.ID, dan.ID}; !slices.Equal(p.Online, want) {
		t.Fatalf("presence after the crash: %v, want %v", p.Online, want)
	}
	for _, e := range watcher.snapshot() {
		if isPresence(dan.ID, false)(e) {
			t.Fatalf("dan, still connected to the survivor, was pushed offline")
		}
	}
}
