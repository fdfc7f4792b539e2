package caddymodule_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestPeopleResponseCache runs the shipped chat_cache blocks of issue 15's
// routes: the directory and the DM list are cached per user and dropped
// by the writes that change them (a sign-up, a DM opened), and a rename,
// a topic and a delete drop every cached answer about the room (room info
// and the room list, composed; members; messages).
func TestPeopleResponseCache(t *testing.T) {
	s, _, _ := startCacheServer(t)
	stamp := fmt.Sprint(time.Now().UnixNano())
	prefix := "cachepeople" + stamp
	ann := registerNamed(t, s, prefix+" Ann")
	bob := registerNamed(t, s, prefix+" Bob")

	// The directory: MISS, then HIT; per user; anonymous bypasses to 401.
	dir := "/api/users?q=" + prefix
	if r := ann.call(t, "GET", dir, nil); r.status != 200 || xcache(r) != "MISS" {
		t.Fatalf("first search: %d %s %s", r.status, xcache(r), r.body)
	}
	r := ann.call(t, "GET", dir, nil)
	if xcache(r) != "HIT" || strings.Count(string(r.body), prefix) != 2 {
		t.Fatalf("second search: %s %s", xcache(r), r.body)
	}
	if r := bob.call(t, "GET", dir, nil); xcache(r) != "MISS" {
		t.Fatalf("bob's first search is ann's entry: %s", xcache(r))
	}
	if r := s.call(t, "GET", dir, "", nil); r.status != 401 || xcache(r) != "BYPASS" {
		t.Fatalf("anonymous search: %d %s", r.status, xcache(r))
	}
	registerNamed(t, s, prefix+" Cy")
	if r := ann.call(t, "GET", dir, nil); xcache(r) != "MISS" || !strings.Contains(string(r.body), prefix+" Cy") {
		t.Fatalf("search after a sign-up: %s %s", xcache(r), r.body)
	}

	// The DM list: cached per user, dropped for both when one is opened.
	for _, c := range []*client{ann, bob} {
		c.call(t, "GET", "/api/dms", nil)
		if r := c.call(t, "GET", "/api/dms", nil); xcache(r) != "HIT" || string(r.body) != "{\"dms\":[]}\n" {
			t.Fatalf("%s's empty DM list: %s %q", c.name, xcache(r), r.body)
		}
	}
	if r := bob.call(t, "POST", "/api/dms", map[string]any{"user_id": ann.id}); r.status != 201 {
		t.Fatalf("open DM: %d %s", r.status, r.body)
	}
	for _, c := range []*client{ann, bob} {
		if r := c.call(t, "GET", "/api/dms", nil); xcache(r) != "MISS" || !strings.Contains(string(r.body), `"peer"`) {
			t.Fatalf("%s's DM list after bob opened one: %s %s", c.name, xcache(r), r.body)
		}
	}

	// Rename, topic, delete: room info and the room list (composed), the
	// members and the messages.
	room := ann.createRoom(t, prefix+" room", false)
	bob.join(t, room)
	path := fmt.Sprintf("/api/rooms/%d", room)
	reads := []string{path, "/api/rooms", path + "/members", path + "/messages?limit=10"}
	warm := func() {
		t.Helper()
		for _, p := range reads {
			for _, c := range []*client{ann, bob} {
				c.call(t, "GET", p, nil)
			}
			if r := bob.call(t, "GET", p, nil); xcache(r) != "HIT" {
				t.Fatalf("%s not cached: %s", p, xcache(r))
			}
		}
	}
	warm()
	if r := ann.call(t, "PATCH", path, map[string]string{"name": prefix + " renamed", "topic": "the topic"}); r.status != 200 {
		t.Fatalf("rename: %d %s", r.status, r.body)
	}
	for _, p := range reads[:2] {
		if r := bob.call(t, "GET", p, nil); xcache(r) == "HIT" || !strings.Contains(string(r.body), prefix+` renamed","is_private":false,`) || !strings.Contains(string(r.body), `"kind":"room","topic":"the topic"`) {
			t.Fatalf("%s after the rename: %s %s", p, xcache(r), r.body)
		}
	}
	warm()
	if r := ann.call(t, "DELETE", path, nil); r.status != 200 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	for _, p := range reads {
		r := bob.call(t, "GET", p, nil)
		if p == "/api/rooms" {
			if strings.Contains(string(r.body), prefix+" renamed") {
				t.Fatalf("room list after the delete: %s %s", xcache(r), r.body)
			}
			continue
		}
		if r.status != 404 || xcache(r) == "HIT" {
			t.Fatalf("%s after the delete: %d %s %s", p, r.status, xcache(r), r.body)
		}
	}
}
