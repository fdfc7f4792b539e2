package cachemw

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

func TestVersionSeq(t *testing.T) {
	epoch, other := NewVersion(), NewVersion()
	for _, seq := range []int64{0, 1, 42, 1 << 50} {
		v := SeqVersion(seq, epoch)
		if got, ok := VersionSeq(v, epoch); !ok || got != seq {
			t.Fatalf("VersionSeq(SeqVersion(%d)) = %d, %v", seq, got, ok)
		}
		if _, ok := VersionSeq(v, other); ok {
			t.Fatalf("%q counts under another epoch", v)
		}
	}
	for _, v := range []string{"", "s", "s-", "sx-1", "s12", "0123456789abcdef", NewVersion(), "s-1-ab", "s12-" + epoch[:8]} {
		if _, ok := VersionSeq(v, epoch); ok {
			t.Fatalf("%q carries a seq", v)
		}
	}
}

// TestSequencer: Advance only moves a seq version up and never gives a
// version without a seq one (it bumps it instead); Settle gives one only to
// the version it was handed while it is current.
func TestSequencer(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			st := b.new(t)
			sq := st.(Sequencer)
			const ep = "e0e0e0e0e0"
			version := func() string {
				_, v, err := st.Lookup(ctx, "k", []string{"room:1"})
				if err != nil {
					t.Fatal(err)
				}
				return v[0]
			}
			v0 := version()
			if _, ok := VersionSeq(v0, ep); ok {
				t.Fatalf("a new tag carries a seq: %q", v0)
			}
			if err := sq.Advance(ctx, []string{"room:1"}, []int64{5}, ep); err != nil {
				t.Fatal(err)
			}
			v1 := version()
			if _, ok := VersionSeq(v1, ep); ok || v1 == v0 {
				t.Fatalf("advance of a version without seq: %q -> %q, want a new one without seq", v0, v1)
			}
			if ok, err := sq.Settle(ctx, "room:1", v0, 3, ep); ok || err != nil {
				t.Fatalf("settle of a replaced version: %v %v", ok, err)
			}
			if ok, err := sq.Settle(ctx, "room:1", v1, 7, ep); !ok || err != nil {
				t.Fatalf("settle: %v %v", ok, err)
			}
			v2 := version()
			if n, ok := VersionSeq(v2, ep); !ok || n != 7 {
				t.Fatalf("after settle: %q", v2)
			}
			// A late round (seq 6) leaves 7; a later one moves it.
			_ = sq.Advance(ctx, []string{"room:1"}, []int64{6}, ep)
			if v := version(); v != v2 {
				t.Fatalf("advance to 6 moved %q to %q", v2, v)
			}
			_ = sq.Advance(ctx, []string{"room:1", "room:2"}, []int64{8, 1}, ep)
			if n, _ := VersionSeq(version(), ep); n != 8 {
				t.Fatalf("advance to 8: %q", version())
			}
		})
	}
}

// TestLostAdvanceRetiresSeqs: an Advance lost to a storage fault leaves
// the tag's seq behind the write; once the storage answers, the epoch is
// bumped before anything is served, and the old seq no longer counts.
func TestLostAdvanceRetiresSeqs(t *testing.T) {
	st := &flakyStorage{Storage: NewRedis(sharedRedis(t), testPrefix(t))}
	c, err := New(Config{Storage: st, Identify: identifyHeader, BreakerCooldown: 10 * time.Millisecond, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var seen atomic.Value
	rt := Route{Name: "messages", TTL: 60e9, Private: true,
		Shared:      func(*http.Request, string) bool { return true },
		ComposeTags: func(*http.Request, string) []string { return []string{"room:1"} },
		Compose: func(r *http.Request, p Part) ([]byte, string, error) {
			n, ok := p.Seq(0)
			seen.Store(fmt.Sprint(n, ok))
			if !ok {
				c.Settle(r.Context(), "room:1", p.Versions[0], 10, p.Epoch)
			}
			return p.Body, "", nil
		}}
	h := c.Middleware(rt, &origin{})
	get(t, h, "GET", "/m", "a")
	get(t, h, "GET", "/m", "a")
	if err := c.Advance(context.Background(), []string{"room:1"}, []int64{10}); err != nil {
		t.Fatal(err)
	}
	get(t, h, "GET", "/m", "a")
	if seen.Load() != "10 true" {
		t.Fatalf("seq after advance: %v", seen.Load())
	}
	st.down.Store(true)
	if err := c.Advance(context.Background(), []string{"room:1"}, []int64{11}); err == nil {
		t.Fatal("advance succeeded on a failing storage")
	}
	st.down.Store(false)
	time.Sleep(20 * time.Millisecond)
	get(t, h, "GET", "/m", "a")
	if seen.Load() != "0 false" {
		t.Fatalf("seq 10 still counts after a lost advance to 11: %v", seen.Load())
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
					n, _ := p.Seq(0)
					return fmt.Appendf(nil, "%s@%d", p.Body, n), `"e` + fmt.Sprint(n) + `"`, nil
				}}
			st := c.cfg.Storage
			h := c.Middleware(rt, o)
			if r := get(t, h, "GET", "/m", "alice"); r.body != "part@0" {
				t.Fatalf("first: %+v", r)
			}
			_, v, _ := st.Lookup(context.Background(), "x", []string{"room:1", EpochTag})
			if !c.Settle(context.Background(), "room:1", v[0], 0, v[1]) {
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

func (f *flakyStorage) Advance(ctx context.Context, tags []string, seqs []int64, epoch string) error {
	if f.down.Load() {
		return errDown
	}
	return f.Storage.(Sequencer).Advance(ctx, tags, seqs, epoch)
}

func (f *flakyStorage) Settle(ctx context.Context, tag, old string, seq int64, epoch string) (bool, error) {
	if f.down.Load() {
		return false, errDown
	}
	return f.Storage.(Sequencer).Settle(ctx, tag, old, seq, epoch)
}
