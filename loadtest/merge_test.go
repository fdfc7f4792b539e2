package main

import (
	"encoding/json"
	"testing"
	"time"
)

func histOf(us ...int64) Hist {
	h := newHist()
	for _, v := range us {
		recordMicros(h, v)
	}
	return Hist{h}
}

func TestHistJSONRoundTrip(t *testing.T) {
	in := histOf(100, 200, 300, 5000, 1_000_000)
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out Hist
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !out.H.Equals(in.H) {
		t.Fatal("histogram changed in a JSON round trip")
	}
	var null Hist
	if b, _ := json.Marshal(null); string(b) != "null" {
		t.Fatalf("nil histogram: %s", b)
	}
	if err := json.Unmarshal([]byte(`"not base64!"`), &out); err == nil {
		t.Fatal("garbage must not decode")
	}
}

func TestRecordMicrosClamps(t *testing.T) {
	h := newHist()
	recordMicros(h, -5)
	recordMicros(h, histHighest*10)
	if h.TotalCount() != 2 {
		t.Fatalf("clamped samples dropped: %d", h.TotalCount())
	}
}

// Children send partials as JSON; merging after a round trip must equal
// adding the counts and merging the histograms.
func TestMergePartialsAfterJSON(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a := &Partial{UsersPlanned: 10, UsersConnected: 10, Sent: 100, Acked: 100, ExpectedDeliveries: 1000, Delivered: 999, Lost: 1,
		SendStart: t0, SendEnd: t0.Add(10 * time.Second), LastDelivery: t0.Add(10 * time.Second),
		Latency: histOf(1000, 2000), Reconnect: histOf(500_000),
		API:      map[string]*RouteStats{"GET /api/rooms": {Hist: histOf(300), Count: 1, CacheHits: 1}},
		Timeline: PartialTimeline{Latency: map[int]Hist{3: histOf(1000)}, Sent: []int64{1, 2}, Connected: []int64{10, 10}},
		Errors:   map[string]int{"x": 2}}
	b := &Partial{UsersPlanned: 5, UsersConnected: 4, Sent: 50, Acked: 49, Unacked: 1, ExpectedDeliveries: 200, Delivered: 200, Duplicated: 2,
		SendStart: t0.Add(-time.Millisecond), SendEnd: t0.Add(10 * time.Second), LastDelivery: t0.Add(11 * time.Second),
		Latency:  histOf(3000),
		API:      map[string]*RouteStats{"GET /api/rooms": {Hist: histOf(700), Count: 1}, "GET /api/rooms/{id}": {Hist: histOf(100), Count: 1, Errors: 1}},
		Timeline: PartialTimeline{Latency: map[int]Hist{3: histOf(2000), 4: histOf(1)}, Sent: []int64{1, 1, 1}, Connected: []int64{5}},
		Errors:   map[string]int{"x": 1, "y": 1}}
	m := mergePartials(viaJSON(t, a, b))
	if m.UsersPlanned != 15 || m.UsersConnected != 14 || m.Sent != 150 || m.Acked != 149 || m.Unacked != 1 ||
		m.ExpectedDeliveries != 1200 || m.Delivered != 1199 || m.Lost != 1 || m.Duplicated != 2 {
		t.Fatalf("counters: %+v", m)
	}
	if m.Latency.H.TotalCount() != 3 || m.Latency.H.Max() < 2990 || m.Reconnect.H.TotalCount() != 1 {
		t.Fatalf("latency merge: n=%d max=%d", m.Latency.H.TotalCount(), m.Latency.H.Max())
	}
	if !m.SendStart.Equal(t0.Add(-time.Millisecond)) || !m.LastDelivery.Equal(t0.Add(11*time.Second)) {
		t.Fatalf("times: %v %v", m.SendStart, m.LastDelivery)
	}
	r := m.API["GET /api/rooms"]
	if r.Count != 2 || r.CacheHits != 1 || r.Hist.H.TotalCount() != 2 || m.API["GET /api/rooms/{id}"].Errors != 1 {
		t.Fatalf("api merge: %+v", m.API)
	}
	if m.Timeline.Latency[3].H.TotalCount() != 2 || m.Timeline.Latency[4].H.TotalCount() != 1 {
		t.Fatal("timeline latency merge")
	}
	if got := m.Timeline.Sent; len(got) != 3 || got[0] != 2 || got[1] != 3 || got[2] != 1 {
		t.Fatalf("series sum: %v", got)
	}
	if got := m.Timeline.Connected; got[0] != 15 || got[1] != 10 {
		t.Fatalf("connected sum: %v", got)
	}
	if m.Errors["x"] != 3 || m.Errors["y"] != 1 {
		t.Fatalf("errors: %v", m.Errors)
	}
}

func TestMakePlansKeepsRoomsWhole(t *testing.T) {
	cfg := &Config{Users: 10, Rooms: 4, Procs: 3, Rate: 100, APIRate: 30, Duration: time.Second}
	var users []SeedUser
	for i := 0; i < 10; i++ {
		users = append(users, SeedUser{ID: int64(i + 1), Token: "t"})
	}
	rooms := []SeedRoom{{ID: 11}, {ID: 12}, {ID: 13}, {ID: 14}}
	now := time.Now()
	plans := makePlans(cfg, users, rooms, now, now.Add(time.Second), "ab")
	owner := map[int64]int{}
	total, rate, apiRate := 0, 0.0, 0.0
	for _, p := range plans {
		for _, u := range p.Users {
			if o, ok := owner[u.Room]; ok && o != p.Index {
				t.Fatalf("room %d split over workers %d and %d", u.Room, o, p.Index)
			}
			owner[u.Room] = p.Index
			if rooms[u.Global%4].ID != u.Room {
				t.Fatalf("user %d in room %d", u.Global, u.Room)
			}
		}
		total += len(p.Users)
		rate += p.Rate
		apiRate += p.APIRate
	}
	if total != 10 || rate < 99.999 || rate > 100.001 || apiRate < 29.999 || apiRate > 30.001 {
		t.Fatalf("shares: users %d rate %v api %v", total, rate, apiRate)
	}
	if plans[0].RunID == plans[1].RunID {
		t.Fatal("workers need distinct run ids so their cids never collide")
	}
}

func TestErrorLogBounded(t *testing.T) {
	l := newErrorLog(2)
	l.add("a")
	l.add("b")
	l.add("a")
	l.add("c")
	l.add("d")
	s := l.snapshot()
	if s["a"] != 2 || s["b"] != 1 || s["(other errors)"] != 2 || len(s) != 3 {
		t.Fatalf("%v", s)
	}
	top := topErrors(s, 2)
	if len(top) != 2 || top[0] != "2× (other errors)" || top[1] != "2× a" {
		t.Fatalf("%q", top)
	}
}

// -mix with -procs: each child's latency per kind and operation counts
// survive the JSON round trip and add up in the parent.
func TestMergePartialsByKind(t *testing.T) {
	a := &Partial{LatencyByKind: map[string]Hist{"message": histOf(1000, 2000), "edit": histOf(3000)}, Ops: map[string]int64{"send": 8, "edit": 1}}
	b := &Partial{LatencyByKind: map[string]Hist{"message": histOf(1500), "react": histOf(2500)}, Ops: map[string]int64{"send": 4, "react": 2}}
	m := mergePartials(viaJSON(t, a, b))
	if m.LatencyByKind["message"].H.TotalCount() != 3 || m.LatencyByKind["edit"].H.TotalCount() != 1 || m.LatencyByKind["react"].H.TotalCount() != 1 {
		t.Fatalf("by kind %v", m.LatencyByKind)
	}
	if m.Ops["send"] != 12 || m.Ops["edit"] != 1 || m.Ops["react"] != 2 {
		t.Fatalf("ops %v", m.Ops)
	}
	r := buildResult(m, runInfo{cfg: &Config{Mix: Mix{Send: 8, Edit: 1, React: 1}}})
	if r.LatencyByKindMS["message"].Count != 3 || r.Ops["send"] != 12 {
		t.Fatalf("result %+v %v", r.LatencyByKindMS, r.Ops)
	}
	// A mix that asked for deletes and got none says so.
	r = buildResult(m, runInfo{cfg: &Config{Mix: Mix{Send: 8, Delete: 1}}})
	r.Sent = 1
	r.Warnings = nil
	r.judge()
	found := false
	for _, w := range r.Warnings {
		found = found || w == "-mix asked for delete but none was delivered"
	}
	if !found {
		t.Fatalf("warnings %v", r.Warnings)
	}
}

// viaJSON is what -procs children's partials are once the parent has read
// them.
func viaJSON(t *testing.T, in ...*Partial) []*Partial {
	var out []*Partial
	for _, p := range in {
		raw, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var back Partial
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatal(err)
		}
		out = append(out, &back)
	}
	return out
}
