package main

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"strconv"
	"testing"
)

func beforeOf(t *testing.T, path string) (before, limit int64) {
	t.Helper()
	u, err := url.Parse(path)
	if err != nil {
		t.Fatal(err)
	}
	before, _ = strconv.ParseInt(u.Query().Get("before"), 10, 64)
	limit, _ = strconv.ParseInt(u.Query().Get("limit"), 10, 64)
	return before, limit
}

// TestHistoryPath: aligned reads are the web client's pages (aligned,
// complete, reaching below what the client holds), so clients that opened
// the room at different moments ask for the same few pages; oldest reads
// are one set per moment; random is the old uniform pick.
func TestHistoryPath(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	aligned, oldest := map[int64]bool{}, map[int64]bool{}
	for last := int64(300); last < 400; last++ {
		for i := 0; i < 20; i++ {
			b, limit := beforeOf(t, historyPath(7, last, HistoryAligned, r))
			held := last - 49 // the newest page
			if limit != 100 || (b-1)%50 != 0 || b-1 > last || b-1 < 1 || b > held+49 {
				t.Fatalf("last %d: aligned before=%d limit=%d", last, b, limit)
			}
			if b != olderBefore(held, 50) && b > held {
				t.Fatalf("last %d: before %d above what the client holds (%d) but not its first older page", last, b, held)
			}
			aligned[b] = true
			b, _ = beforeOf(t, historyPath(7, last, HistoryOldest, r))
			oldest[b] = true
		}
	}
	if len(aligned) > 12 || len(oldest) < 100 {
		t.Fatalf("distinct pages over 100 newest seqs: aligned %d (want few), oldest %d (want one set per seq)", len(aligned), len(oldest))
	}
	for _, tc := range []struct{ oldest, want int64 }{{1, 1}, {2, 51}, {51, 51}, {52, 101}, {268, 301}, {301, 301}} {
		if got := olderBefore(tc.oldest, 50); got != tc.want {
			t.Errorf("olderBefore(%d) = %d, want %d (frontend/src/store/roomCache.ts agrees)", tc.oldest, got, tc.want)
		}
	}
	// A room that fits in the newest page: an empty page below seq 1.
	if p := historyPath(7, 30, HistoryAligned, r); p != "/api/rooms/7/messages?before=1&limit=100" {
		t.Fatalf("small room: %s", p)
	}
	// random: the old pick, pages of 50.
	r1, r2 := rand.New(rand.NewPCG(3, 4)), rand.New(rand.NewPCG(3, 4))
	if got, want := historyPath(7, 500, HistoryRandom, r1), fmt.Sprintf("/api/rooms/7/messages?before=%d&limit=50", 1+r2.Int64N(500)); got != want {
		t.Fatalf("random: %s, want %s", got, want)
	}
}
