package cachemw

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

type partKey struct{}

// TestCompose: a composing route stores what the origin answers for the
// marked request (the shared part), builds every answer from it per
// identity (hits, the filling miss, HEAD), recomputes the ETag over what it
// serves, and sends unmarked requests that bypass to the origin whole.
func TestCompose(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			var counter atomic.Int64
			var failCompose atomic.Bool
			o := &origin{handle: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if r.Context().Value(partKey{}) != nil {
					w.Header().Set(TagsHeader, "rooms:list")
					fmt.Fprint(w, `{"part":"shared"}`)
					return
				}
				fmt.Fprintf(w, `{"whole":%q,"n":%d}`, r.Header.Get("X-User"), counter.Load())
			}}
			rt := Route{Name: "rooms", TTL: 60e9, Private: true,
				Shared: func(*http.Request, string) bool { return true },
				Tags:   func(*http.Request, string) []string { return []string{"rooms:list"} },
				Origin: func(r *http.Request) *http.Request {
					return r.WithContext(context.WithValue(r.Context(), partKey{}, true))
				},
				Compose: func(r *http.Request, p Part) ([]byte, string, error) {
					if failCompose.Load() {
						return nil, "", errors.New("boom")
					}
					return fmt.Appendf(nil, `{"stored":%s,"user":%q,"n":%d}`, p.Body, p.ID, counter.Load()), "", nil
				}}
			c := newCache(t, b.new(t))
			h := c.Middleware(rt, o)
			a := get(t, h, "GET", "/api/rooms", "alice")
			wantCache(t, a, "MISS")
			if a.body != `{"stored":{"part":"shared"},"user":"alice","n":0}` {
				t.Fatalf("filling miss: %q", a.body)
			}
			bob := get(t, h, "GET", "/api/rooms", "bob")
			wantCache(t, bob, "HIT")
			if bob.body != `{"stored":{"part":"shared"},"user":"bob","n":0}` {
				t.Fatalf("bob's hit: %q", bob.body)
			}
			// What is composed in moves without the entry being dropped, and
			// every answer shows it at once; the ETag follows the answer.
			counter.Store(7)
			bob2 := get(t, h, "GET", "/api/rooms", "bob")
			wantCache(t, bob2, "HIT")
			if !strings.Contains(bob2.body, `"n":7`) || bob2.header.Get("ETag") == bob.header.Get("ETag") {
				t.Fatalf("after the counter moved: %q (ETag %q, was %q)", bob2.body, bob2.header.Get("ETag"), bob.header.Get("ETag"))
			}
			if r := get(t, h, "GET", "/api/rooms", "bob", "If-None-Match", bob.header.Get("ETag")); r.status != http.StatusOK {
				t.Fatalf("an old ETag got %d: the composed answer changed", r.status)
			}
			if r := get(t, h, "GET", "/api/rooms", "bob", "If-None-Match", bob2.header.Get("ETag")); r.status != http.StatusNotModified {
				t.Fatalf("the current ETag got %d, want 304", r.status)
			}
			if o.calls.Load() != 1 {
				t.Fatalf("origin calls %d, want 1", o.calls.Load())
			}
			// Bypassed requests get the whole answer from the origin.
			anon := get(t, h, "GET", "/api/rooms", "")
			wantCache(t, anon, "BYPASS")
			if !strings.Contains(anon.body, `"whole"`) {
				t.Fatalf("anonymous: %q", anon.body)
			}
			// A composition that fails sends the request to the origin whole.
			failCompose.Store(true)
			f := get(t, h, "GET", "/api/rooms", "carol")
			if !strings.Contains(f.body, `"whole":"carol"`) {
				t.Fatalf("failed composition: %q %v", f.body, f.header)
			}
			failCompose.Store(false)
			// A bump drops the stored part.
			if err := c.Invalidate(context.Background(), "rooms:list"); err != nil {
				t.Fatal(err)
			}
			wantCache(t, get(t, h, "GET", "/api/rooms", "carol"), "MISS")
		})
	}
}

// TestComposeNeverStreamsThePart: a stored part bigger than max_size, or
// flushed, still reaches the client composed (it is not stored).
func TestComposeNeverStreamsThePart(t *testing.T) {
	o := &origin{handle: func(w http.ResponseWriter, r *http.Request) {
		if r.Context().Value(partKey{}) == nil {
			fmt.Fprint(w, "whole")
			return
		}
		w.Write([]byte(strings.Repeat("p", 100)))
		http.NewResponseController(w).Flush()
		w.Write([]byte(strings.Repeat("q", 100)))
	}}
	rt := Route{Name: "rooms", TTL: 60e9, Private: true, MaxSize: 50,
		Shared: func(*http.Request, string) bool { return true },
		Origin: func(r *http.Request) *http.Request {
			return r.WithContext(context.WithValue(r.Context(), partKey{}, true))
		},
		Compose: func(r *http.Request, p Part) ([]byte, string, error) {
			return fmt.Appendf(nil, "%s:%d", p.ID, len(p.Body)), "", nil
		}}
	h := newCache(t, NewMemory(0)).Middleware(rt, o)
	for range 2 {
		r := get(t, h, "GET", "/api/rooms", "alice")
		wantCache(t, r, "MISS")
		if r.body != "alice:200" {
			t.Fatalf("got %q, want the composed answer", r.body)
		}
	}
}
