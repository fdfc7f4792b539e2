package main

import (
	"sort"
	"sync"
	"time"
)

// Partial is what one worker (the process itself, or one -procs child)
// measured. Children write it as JSON; the parent merges them.
type Partial struct {
	Worker         int `json:"worker"`
	UsersPlanned   int `json:"users_planned"`
	UsersConnected int `json:"users_connected"`

	Sent         int64 `json:"sent"`
	Acked        int64 `json:"acked"`
	Unacked      int64 `json:"unacked"`
	SendErrors   int64 `json:"send_errors"`
	RateLimited  int64 `json:"rate_limited"`
	TooSlow      int64 `json:"too_slow"`
	Drained      int64 `json:"drained"`
	Unauthorized int64 `json:"unauthorized"`
	Dropped      int64 `json:"dropped"`
	Reconnects   int64 `json:"reconnects"`
	DialErrors   int64 `json:"dial_errors"`

	ExpectedDeliveries int64 `json:"expected_deliveries"`
	Delivered          int64 `json:"delivered"`
	Lost               int64 `json:"lost"`
	Duplicated         int64 `json:"duplicated"`
	Reordered          int64 `json:"reordered"`
	Gaps               int64 `json:"gaps"`
	Recovered          int64 `json:"recovered"`
	StoredTwice        int64 `json:"stored_twice"`

	SendStart    time.Time `json:"send_start"`
	SendEnd      time.Time `json:"send_end"`
	LastDelivery time.Time `json:"last_delivery"`

	Latency Hist `json:"latency"`
	// LatencyByKind: message, edit, delete, react (kinds seen only).
	LatencyByKind map[string]Hist `json:"latency_by_kind,omitempty"`
	// Ops: operations written by what they were (statNames), with -mix.
	Ops       map[string]int64 `json:"ops,omitempty"`
	Connect   Hist             `json:"connect"`
	Ack       Hist             `json:"ack"`
	Reconnect Hist             `json:"reconnect"`
	SendLag   Hist             `json:"send_lag"`

	API      map[string]*RouteStats `json:"api"`
	Timeline PartialTimeline        `json:"timeline"`

	GeneratorCPUSeconds float64        `json:"generator_cpu_seconds"`
	Errors              map[string]int `json:"errors,omitempty"`
}

// RouteStats is one REST route's latency and cache behaviour.
type RouteStats struct {
	Hist      Hist  `json:"hist"`
	Count     int64 `json:"count"`
	Errors    int64 `json:"errors"`
	CacheHits int64 `json:"cache_hits"`
}

// PartialTimeline holds per-second series, slot 0 at the plan's origin.
type PartialTimeline struct {
	Latency   map[int]Hist `json:"latency"`
	Sent      []int64      `json:"sent"`
	Acked     []int64      `json:"acked"`
	Delivered []int64      `json:"delivered"`
	Connected []int64      `json:"connected"`
}

// mergePartials adds workers' results together. Counters and per-second
// series sum (every worker shares the same origin); histograms merge.
func mergePartials(ps []*Partial) *Partial {
	out := &Partial{API: map[string]*RouteStats{}, Timeline: PartialTimeline{Latency: map[int]Hist{}}, Errors: map[string]int{}}
	for _, p := range ps {
		out.UsersPlanned += p.UsersPlanned
		out.UsersConnected += p.UsersConnected
		out.Sent += p.Sent
		out.Acked += p.Acked
		out.Unacked += p.Unacked
		out.SendErrors += p.SendErrors
		out.RateLimited += p.RateLimited
		out.TooSlow += p.TooSlow
		out.Drained += p.Drained
		out.Unauthorized += p.Unauthorized
		out.Dropped += p.Dropped
		out.Reconnects += p.Reconnects
		out.DialErrors += p.DialErrors
		out.ExpectedDeliveries += p.ExpectedDeliveries
		out.Delivered += p.Delivered
		out.Lost += p.Lost
		out.Duplicated += p.Duplicated
		out.Reordered += p.Reordered
		out.Gaps += p.Gaps
		out.Recovered += p.Recovered
		out.StoredTwice += p.StoredTwice
		out.GeneratorCPUSeconds += p.GeneratorCPUSeconds
		out.SendStart = minTime(out.SendStart, p.SendStart)
		out.SendEnd = maxTime(out.SendEnd, p.SendEnd)
		out.LastDelivery = maxTime(out.LastDelivery, p.LastDelivery)
		mergeInto(&out.Latency.H, p.Latency.H)
		for k, h := range p.LatencyByKind {
			if out.LatencyByKind == nil {
				out.LatencyByKind = map[string]Hist{}
			}
			dst := out.LatencyByKind[k]
			mergeInto(&dst.H, h.H)
			out.LatencyByKind[k] = dst
		}
		for k, n := range p.Ops {
			if out.Ops == nil {
				out.Ops = map[string]int64{}
			}
			out.Ops[k] += n
		}
		mergeInto(&out.Connect.H, p.Connect.H)
		mergeInto(&out.Ack.H, p.Ack.H)
		mergeInto(&out.Reconnect.H, p.Reconnect.H)
		mergeInto(&out.SendLag.H, p.SendLag.H)
		for route, rs := range p.API {
			dst := out.API[route]
			if dst == nil {
				dst = &RouteStats{}
				out.API[route] = dst
			}
			mergeInto(&dst.Hist.H, rs.Hist.H)
			dst.Count += rs.Count
			dst.Errors += rs.Errors
			dst.CacheHits += rs.CacheHits
		}
		for sec, h := range p.Timeline.Latency {
			dst := out.Timeline.Latency[sec]
			mergeInto(&dst.H, h.H)
			out.Timeline.Latency[sec] = dst
		}
		out.Timeline.Sent = addSeries(out.Timeline.Sent, p.Timeline.Sent)
		out.Timeline.Acked = addSeries(out.Timeline.Acked, p.Timeline.Acked)
		out.Timeline.Delivered = addSeries(out.Timeline.Delivered, p.Timeline.Delivered)
		out.Timeline.Connected = addSeries(out.Timeline.Connected, p.Timeline.Connected)
		for e, n := range p.Errors {
			out.Errors[e] += n
		}
	}
	return out
}

func addSeries(a, b []int64) []int64 {
	if len(b) > len(a) {
		a = append(a, make([]int64, len(b)-len(a))...)
	}
	for i, v := range b {
		a[i] += v
	}
	return a
}

func minTime(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// errorLog counts distinct error messages, keeping at most limit of them so
// a storm of one failure cannot eat memory.
type errorLog struct {
	mu    sync.Mutex
	limit int
	m     map[string]int
	other int
}

func newErrorLog(limit int) *errorLog { return &errorLog{limit: limit, m: map[string]int{}} }

func (l *errorLog) add(msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.m[msg]; ok || len(l.m) < l.limit {
		l.m[msg]++
		return
	}
	l.other++
}

func (l *errorLog) snapshot() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int, len(l.m)+1)
	for k, v := range l.m {
		out[k] = v
	}
	if l.other > 0 {
		out["(other errors)"] = l.other
	}
	return out
}

// topErrors lists errors by count, most frequent first.
func topErrors(m map[string]int, n int) []string {
	type kv struct {
		k string
		v int
	}
	var all []kv
	for k, v := range m {
		all = append(all, kv{k, v})
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].v != all[j].v {
			return all[i].v > all[j].v
		}
		return all[i].k < all[j].k
	})
	var out []string
	for i := 0; i < len(all) && i < n; i++ {
		out = append(out, fmtCount(int64(all[i].v))+"× "+all[i].k)
	}
	return out
}
