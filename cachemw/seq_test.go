package cachemw

import (
	"context"
	"fmt"
	"net/http"
	"testing"
)

func TestVersionSeq(t *testing.T) {
	for _, seq := range []int64{0, 1, 42, 1 << 50} {
		if got, ok := VersionSeq(SeqVersion(seq)); !ok || got != seq {
			t.Fatalf("VersionSeq(SeqVersion(%d)) = %d, %v", seq, got, ok)
		}
	}
	for _, v := range []string{"", "s", "s-", "sx-1", "s12", "0123456789abcdef", NewVersion(), "s-1-ab"} {
		if _, ok := VersionSeq(v); ok {
			t.Fatalf("%q carries a seq", v)
		}
	}
}

// TestSequencer: Advance only moves a seq version up and never gives a
// version without a seq one (it bumps it instead); Settle gives one only to
// the version it was handed, and only if that carries none.
func TestSequencer(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			st := b.new(t)
			sq := st.(Sequencer)
			version := func() string {
				_, v, err := st.Lookup(ctx, "k", []string{"room:1"})
				if err != nil {
					t.Fatal(err)
				}
				return v[0]
			}
			v0 := version()
			if _, ok := VersionSeq(v0); ok {
				t.Fatalf("a new tag carries a seq: %q", v0)
			}
			if err := sq.Advance(ctx, []string{"room:1"}, []int64{5}); err != nil {
				t.Fatal(err)
			}
			v1 := version()
			if _, ok := VersionSeq(v1); ok || v1 == v0 {
				t.Fatalf("advance of a version without seq: %q -> %q, want a new one without seq", v0, v1)
			}
			if ok, err := sq.Settle(ctx, "room:1", v0, 3); ok || err != nil {
				t.Fatalf("settle of a replaced version: %v %v", ok, err)
			}
			if ok, err := sq.Settle(ctx, "room:1", v1, 7); !ok || err != nil {
				t.Fatalf("settle: %v %v", ok, err)
			}
			v2 := version()
			if n, ok := VersionSeq(v2); !ok || n != 7 {
				t.Fatalf("after settle: %q", v2)
			}
			if ok, _ := sq.Settle(ctx, "room:1", v2, 9); ok {
				t.Fatal("settled a version that carries a seq")
			}
			// A late round (seq 6) leaves 7; a later one moves it.
			_ = sq.Advance(ctx, []string{"room:1"}, []int64{6})
			if v := version(); v != v2 {
				t.Fatalf("advance to 6 moved %q to %q", v2, v)
			}
			_ = sq.Advance(ctx, []string{"room:1", "room:2"}, []int64{8, 1})
			if n, _ := VersionSeq(version()); n != 8 {
				t.Fatalf("advance to 8: %q", version())
			}
		})
	}
}

// TestComposeTags: a composing route reads its compose tags with the
// entry and hands their versions to Compose; bumping them drops nothing.
func TestComposeTags(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			c := newCache(t, b.new(t))
			o := &origin{handle: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set(TagsHeader, "members:1")
				fmt.Fprint(w, "part")
			}}
			rt := Route{Name: "messages", TTL: 60e9, Private: true,
				Shared:      func(*http.Request, string) bool { return true },
				Tags:        func(*http.Request, string) []string { return []string{"members:1"} },
				ComposeTags: func(*http.Request, string) []string { return []string{"room:1"} },
				Compose: func(r *http.Request, p Part) ([]byte, string, error) {
					n, _ := VersionSeq(p.Versions[0])
					return fmt.Appendf(nil, "%s@%d", p.Body, n), `"e` + fmt.Sprint(n) + `"`, nil
				}}
			st := c.cfg.Storage
			h := c.Middleware(rt, o)
			if r := get(t, h, "GET", "/m", "alice"); r.body != "part@0" {
				t.Fatalf("first: %+v", r)
			}
			_, v, _ := st.Lookup(context.Background(), "x", []string{"room:1"})
			if !c.Settle(context.Background(), "room:1", v[0], 0) {
				t.Fatal("settle")
			}
			for seq := int64(1); seq <= 3; seq++ {
				if err := c.Advance(context.Background(), []string{"room:1"}, []int64{seq}); err != nil {
					t.Fatal(err)
				}
				r := get(t, h, "GET", "/m", "bob")
				wantCache(t, r, "HIT")
				if want := fmt.Sprintf("part@%d", seq); r.body != want || r.header.Get("ETag") != fmt.Sprintf(`"e%d"`, seq) {
					t.Fatalf("seq %d: %q %q", seq, r.body, r.header.Get("ETag"))
				}
			}
			if o.calls.Load() != 1 {
				t.Fatalf("origin called %d times, want 1", o.calls.Load())
			}
		})
	}
}
