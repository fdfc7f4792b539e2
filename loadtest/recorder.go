package main

import (
	"sync"
	"sync/atomic"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// recorder collects delivery latencies from thousands of reader goroutines.
// One histogram behind one mutex would serialise them, so samples go to
// shards (a client always uses the same one) and are merged at the end.
// Each shard also keeps the current second's samples and hands them to the
// timeline when the second changes.
type recorder struct {
	origin time.Time
	shards []recShard

	tlMu     sync.Mutex
	timeline map[int]*hdr.Histogram
}

type recShard struct {
	mu     sync.Mutex
	total  *hdr.Histogram
	byKind [numKinds]*hdr.Histogram // created at a kind's first sample
	cur    *hdr.Histogram
	curSec int
	_      [64]byte // keep shards on separate cache lines
}

func newRecorder(origin time.Time, shards int) *recorder {
	r := &recorder{origin: origin, shards: make([]recShard, shards), timeline: map[int]*hdr.Histogram{}}
	for i := range r.shards {
		r.shards[i].total = newHist()
		r.shards[i].curSec = -1
	}
	return r
}

// record adds one latency of a kind of entry observed at now.
func (r *recorder) record(shard int, kind entryKind, now time.Time, lat time.Duration) {
	sec := secondIndex(r.origin, now)
	s := &r.shards[shard%len(r.shards)]
	s.mu.Lock()
	recordMicros(s.total, lat.Microseconds())
	if s.byKind[kind] == nil {
		s.byKind[kind] = newHist()
	}
	recordMicros(s.byKind[kind], lat.Microseconds())
	if sec != s.curSec {
		r.handOver(s)
		s.curSec = sec
	}
	if s.cur == nil {
		s.cur = newTimelineHist()
	}
	recordMicros(s.cur, lat.Microseconds())
	s.mu.Unlock()
}

// handOver moves a shard's current second into the timeline; s.mu is held.
func (r *recorder) handOver(s *recShard) {
	if s.cur == nil || s.cur.TotalCount() == 0 {
		return
	}
	r.tlMu.Lock()
	h := r.timeline[s.curSec]
	mergeInto(&h, s.cur)
	r.timeline[s.curSec] = h
	r.tlMu.Unlock()
	s.cur.Reset()
}

// finish flushes every shard and returns the merged total, the totals per
// kind of entry (nil for a kind never seen) and the timeline.
func (r *recorder) finish() (*hdr.Histogram, [numKinds]*hdr.Histogram, map[int]*hdr.Histogram) {
	total := newHist()
	var byKind [numKinds]*hdr.Histogram
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		r.handOver(s)
		total.Merge(s.total)
		for k, h := range s.byKind {
			mergeInto(&byKind[k], h)
		}
		s.mu.Unlock()
	}
	r.tlMu.Lock()
	defer r.tlMu.Unlock()
	return total, byKind, r.timeline
}

// secondIndex is the timeline slot of t; before the origin it is negative.
func secondIndex(origin, t time.Time) int {
	d := t.Sub(origin)
	if d < 0 {
		return int(d/time.Second) - 1
	}
	return int(d / time.Second)
}

// series is a per-second counter (sends, acks, deliveries) safe for
// concurrent adds; seconds past its end land in the last slot.
type series struct {
	origin time.Time
	slots  []atomic.Int64
}

func newSeries(origin time.Time, seconds int) *series {
	return &series{origin: origin, slots: make([]atomic.Int64, seconds)}
}

func (s *series) add(t time.Time, n int64) {
	i := secondIndex(s.origin, t)
	if i < 0 {
		i = 0
	}
	if i >= len(s.slots) {
		i = len(s.slots) - 1
	}
	s.slots[i].Add(n)
}

func (s *series) set(i int, v int64) {
	if i >= 0 && i < len(s.slots) {
		s.slots[i].Store(v)
	}
}

func (s *series) values() []int64 {
	out := make([]int64, len(s.slots))
	for i := range s.slots {
		out[i] = s.slots[i].Load()
	}
	return out
}

// histSet is a small mutex-guarded histogram for rarer events (connects,
// acks, reconnects, one API route).
type histSet struct {
	mu sync.Mutex
	h  *hdr.Histogram
}

func (hs *histSet) record(d time.Duration) {
	hs.mu.Lock()
	if hs.h == nil {
		hs.h = newHist()
	}
	recordMicros(hs.h, d.Microseconds())
	hs.mu.Unlock()
}

func (hs *histSet) snapshot() *hdr.Histogram {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.h == nil {
		return nil
	}
	return hs.h.Clone()
}
