package caddymodule_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestLatestComposedThroughCaddy: the newest-messages page through the
// built binary and the shipped Caddyfile, Redis storage and memory storage
// (no Redis): every read after a 201 post is a HIT that shows it and is
// byte for byte the uncached site's answer; a join (which drops the stored
// page) and a page size of its own; an edit and a reaction (history:,
// which drops it too) shown right after their ACK, then HITs again; a member who left gets 403, never the
// page; Redis stopped: BYPASS, the API's page.
func TestLatestComposedThroughCaddy(t *testing.T) {
	for _, storage := range []string{"redis", "memory"} {
		t.Run(storage, func(t *testing.T) {
			s, rs, uncached := startCacheServerWith(t, cacheServerOpts{memory: storage == "memory"})
			ann, bob := s.register(t, "Ann"), s.register(t, "Bob")
			room := ann.createRoom(t, "latest", false)
			bob.join(t, room)
			pages := []string{fmt.Sprintf("/api/rooms/%d/messages?limit=50", room), fmt.Sprintf("/api/rooms/%d/messages?limit=3", room)}
			plain := func(path, token string) string {
				req, _ := http.NewRequest("GET", uncached+path, nil)
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return string(b)
			}
			same := func(c *client, want string) {
				t.Helper()
				for _, p := range pages {
					r := c.call(t, "GET", p, nil)
					if direct := plain(p, c.token); r.status != 200 || string(r.body) != direct || (want != "" && xcache(r) != want) {
						t.Fatalf("%s: %d %s %s\nuncached: %s", p, r.status, xcache(r), r.body, direct)
					}
				}
			}
			same(ann, "MISS")
			same(bob, "HIT")
			hits := 0
			var first struct{ Seq int64 } // Ann's post 1
			for i := 1; i <= 20; i++ {
				who := ann
				if i%2 == 0 {
					who = bob
				}
				r := who.call(t, "POST", fmt.Sprintf("/api/rooms/%d/messages", room), map[string]string{"body": fmt.Sprint("post ", i), "cid": fmt.Sprint("c", i)})
				if r.status != 201 {
					t.Fatalf("post %d: %d %s", i, r.status, r.body)
				}
				if i == 1 {
					_ = json.Unmarshal(r.body, &first)
				}
				r = ann.call(t, "GET", pages[0], nil)
				if xcache(r) == "HIT" {
					hits++
				}
				if string(r.body) != plain(pages[0], ann.token) {
					t.Fatalf("after post %d: %s %s", i, xcache(r), r.body)
				}
			}
			if hits != 20 {
				t.Fatalf("%d of 20 reads after a post were HITs, want all", hits)
			}
			same(bob, "HIT")

			// Carol joins: the stored page goes; the next answers are
			// composed again and still the API's.
			carol := s.register(t, "Carol")
			carol.join(t, room)
			same(carol, "")
			same(carol, "HIT")

			// Room events change messages the stored page shows (history:
			// drops it): right after the 200 ACK the page is the API's,
			// edited and with the reaction, then a HIT again.
			edit := fmt.Sprintf("/api/rooms/%d/messages/%d", room, first.Seq)
			if r := ann.call(t, "PATCH", edit, map[string]string{"body": "post 1, edited", "cid": "e1"}); r.status != 200 {
				t.Fatalf("edit: %d %s", r.status, r.body)
			}
			if r := carol.call(t, "PUT", edit+"/reactions/:tada:", nil); r.status != 200 {
				t.Fatalf("react: %d %s", r.status, r.body)
			}
			same(bob, "")
			if r := carol.call(t, "GET", pages[0], nil); !strings.Contains(string(r.body), `"body":"post 1, edited"`) || !strings.Contains(string(r.body), `":tada:"`) {
				t.Fatalf("after the edit and the reaction: %s %s", xcache(r), r.body)
			}
			same(carol, "HIT")

			// Bob leaves: 403 at once, the page never.
			if r := bob.call(t, "POST", fmt.Sprintf("/api/rooms/%d/leave", room), nil); r.status != 200 {
				t.Fatalf("leave: %d", r.status)
			}
			for _, p := range pages {
				if r := bob.call(t, "GET", p, nil); r.status != 403 {
					t.Fatalf("bob after leaving: %d %s %s", r.status, xcache(r), r.body)
				}
			}
			if rs == nil {
				return
			}
			rs.Stop()
			if r := ann.call(t, "POST", fmt.Sprintf("/api/rooms/%d/messages", room), map[string]string{"body": "redis down"}); r.status != 201 {
				t.Fatalf("post with Redis down: %d %s", r.status, r.body)
			}
			for i := 0; i < 5; i++ {
				same(ann, "BYPASS")
			}
		})
	}
}
