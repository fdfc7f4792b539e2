package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// apiRoute is one kind of REST read in the mix. The weights follow what chat
// clients do most (Mattermost's mix: history reads dominate).
type apiRoute struct {
	name   string
	weight int
	path   func(room, lastSeq int64, history string, r *rand.Rand) string
}

var apiMix = []apiRoute{
	{"GET /api/rooms/{id}/messages", 40, func(room, _ int64, _ string, _ *rand.Rand) string {
		return fmt.Sprintf("/api/rooms/%d/messages?limit=50", room)
	}},
	{"GET /api/rooms/{id}/messages?before", 15, historyPath},
	{"GET /api/rooms/{id}", 20, func(room, _ int64, _ string, _ *rand.Rand) string {
		return fmt.Sprintf("/api/rooms/%d", room)
	}},
	{"GET /api/rooms/{id}/members", 15, func(room, _ int64, _ string, _ *rand.Rand) string {
		return fmt.Sprintf("/api/rooms/%d/members", room)
	}},
	{"GET /api/rooms", 10, func(_, _ int64, _ string, _ *rand.Rand) string { return "/api/rooms" }},
}

// History read patterns (-history).
const (
	// HistoryAligned pages the way the web client does
	// (frontend/src/store/roomCache.ts, olderBefore): a client that opened
	// the room when its newest seq was last holds the newest page of 50
	// and loads older pages of 100, each page's before rounded up to a
	// multiple of 50, plus one.
	HistoryAligned = "aligned"
	// HistoryOldest is the same client without the rounding: before is the
	// oldest seq it holds, so the pages depend on when it opened the room.
	HistoryOldest = "oldest"
	// HistoryRandom is the mix before issue 14: before uniform in
	// [1, last], pages of 50. No client reads like this (it jumps to random
	// places); kept so older figures can be reproduced.
	HistoryRandom = "random"
)

// historyPath is an older-history read under pattern history. Depth (pages
// below the newest page) is 1 half the time, 2 a quarter, ..., at most 6:
// readers mostly scroll back a little.
func historyPath(room, last int64, history string, r *rand.Rand) string {
	if history == HistoryRandom {
		before := int64(1)
		if last > 1 {
			before = 1 + r.Int64N(last)
		}
		return fmt.Sprintf("/api/rooms/%d/messages?before=%d&limit=50", room, before)
	}
	const first, older, align = 50, 100, 50
	oldest := max(1, last-first+1) // the newest page it holds
	depth := int64(1)
	for depth < 6 && r.IntN(2) == 0 {
		depth++
	}
	before := int64(1) // the room fits in the newest page: an empty page
	if oldest > 1 {
		b1 := oldest
		if history != HistoryOldest { // aligned, the default
			b1 = olderBefore(oldest, align)
		}
		for ; depth > 1 && b1-older*(depth-1) < 2; depth-- {
		}
		before = b1 - older*(depth-1)
	}
	return fmt.Sprintf("/api/rooms/%d/messages?before=%d&limit=%d", room, before, older)
}

// olderBefore is the web client's: oldest rounded up to a multiple of
// align, plus one.
func olderBefore(oldest, align int64) int64 {
	if oldest <= 1 {
		return 1
	}
	return (oldest-2)/align*align + align + 1
}

// pickRoute chooses a route by weight from x in [0, total weight).
func pickRoute(x int) *apiRoute {
	for i := range apiMix {
		if x < apiMix[i].weight {
			return &apiMix[i]
		}
		x -= apiMix[i].weight
	}
	return &apiMix[len(apiMix)-1]
}

func apiMixWeight() int {
	n := 0
	for _, r := range apiMix {
		n += r.weight
	}
	return n
}

// apiStats collects per-route latency, errors and X-Cache hits.
type apiStats struct {
	mu     sync.Mutex
	routes map[string]*RouteStats
}

func newAPIStats() *apiStats { return &apiStats{routes: map[string]*RouteStats{}} }

func (s *apiStats) record(route string, lat time.Duration, ok, hit bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.routes[route]
	if rs == nil {
		rs = &RouteStats{Hist: Hist{newHist()}}
		s.routes[route] = rs
	}
	recordMicros(rs.Hist.H, lat.Microseconds())
	rs.Count++
	if !ok {
		rs.Errors++
	}
	if hit {
		rs.CacheHits++
	}
}

func (s *apiStats) snapshot() map[string]*RouteStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]*RouteStats, len(s.routes))
	for k, v := range s.routes {
		out[k] = &RouteStats{Hist: Hist{v.Hist.H.Clone()}, Count: v.Count, Errors: v.Errors, CacheHits: v.CacheHits}
	}
	return out
}

// apiLoad issues REST reads open loop at the plan's api rate between start
// and end. Latency counts from the intended time, like sends; at most 512
// requests are in flight, and waiting for a slot counts as latency.
func (w *worker) apiLoad(ctx context.Context, start, end time.Time) {
	if len(w.clients) == 0 {
		return
	}
	rng := rand.New(rand.NewPCG(uint64(w.plan.Index)+1, 42))
	weight := apiMixWeight()
	sem := make(chan struct{}, 512)
	var wg sync.WaitGroup
	defer wg.Wait()
	total := int64(w.plan.APIRate * end.Sub(start).Seconds())
	for k := int64(0); k < total; k++ {
		due := start.Add(time.Duration(float64(k) * float64(time.Second) / w.plan.APIRate))
		if d := time.Until(due); d > 0 && !sleepCtx(ctx, d) {
			return
		}
		c := w.clients[rng.IntN(len(w.clients))]
		route := pickRoute(rng.IntN(weight))
		path := route.path(c.room.id, c.room.maxAcked.Load(), w.plan.Config.History, rng)
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			res, err := w.api.as(c.baseURL(), c.token()).Do(ctx, http.MethodGet, path, nil, nil)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				w.errs.add("api " + route.name + ": " + shortErr(err))
			}
			hit := res != nil && strings.HasPrefix(strings.ToUpper(res.Header.Get("X-Cache")), "HIT")
			w.apiStats.record(route.name, time.Since(due), err == nil, hit)
		}()
	}
}
