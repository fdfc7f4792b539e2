package caddymodule_test

import (
	"fmt"
	"io"
	"net/http"
	"testing"
)

// TestLatestComposedThroughCaddy: the newest-messages page through the
// built binary and the shipped Caddyfile, Redis storage and memory storage
// (no Redis): every read after a 201 post is a HIT that shows it and is
// byte for byte the uncached site's answer; a join (which drops the stored
// page) and a page size of its own; a member who left gets 403, never the
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
			for i := 1; i <= 20; i++ {
				who := ann
				if i%2 == 0 {
					who = bob
				}
				if r := who.call(t, "POST", fmt.Sprintf("/api/rooms/%d/messages", room), map[string]string{"body": fmt.Sprint("post ", i), "cid": fmt.Sprint("c", i)}); r.status != 201 {
					t.Fatalf("post %d: %d %s", i, r.status, r.body)
				}
				r := ann.call(t, "GET", pages[0], nil)
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
