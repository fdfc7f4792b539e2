package main

import (
	"sync"
	"testing"
	"time"
)

func TestRecorderConcurrentAndPerSecond(t *testing.T) {
	origin := time.Unix(5000, 0)
	r := newRecorder(origin, 4)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				sec := time.Duration(i%3) * time.Second
				// Every fourth sample is an edit: the totals per kind
				// split what the total holds.
				kind := kindMessage
				if i%4 == 0 {
					kind = kindEdit
				}
				r.record(g, kind, origin.Add(sec+time.Millisecond), time.Duration(i+1)*time.Microsecond)
			}
		}()
	}
	wg.Wait()
	total, byKind, tl := r.finish()
	if total.TotalCount() != 8000 {
		t.Fatalf("total %d", total.TotalCount())
	}
	if byKind[kindMessage].TotalCount() != 6000 || byKind[kindEdit].TotalCount() != 2000 || byKind[kindDelete] != nil {
		t.Fatalf("by kind %v", byKind)
	}
	var sum int64
	for sec, h := range tl {
		if sec < 0 || sec > 2 {
			t.Fatalf("unexpected second %d", sec)
		}
		sum += h.TotalCount()
	}
	if sum != 8000 {
		t.Fatalf("timeline holds %d samples, want 8000", sum)
	}
}

func TestSeriesAndSecondIndex(t *testing.T) {
	o := time.Unix(100, 0)
	if secondIndex(o, o) != 0 || secondIndex(o, o.Add(1999*time.Millisecond)) != 1 || secondIndex(o, o.Add(-time.Millisecond)) != -1 {
		t.Fatal("secondIndex")
	}
	s := newSeries(o, 3)
	s.add(o.Add(-time.Second), 1) // before the origin: first slot
	s.add(o.Add(1500*time.Millisecond), 2)
	s.add(o.Add(time.Hour), 4) // past the end: last slot
	s.set(1, 7)
	s.set(9, 9) // ignored
	if v := s.values(); v[0] != 1 || v[1] != 7 || v[2] != 4 {
		t.Fatalf("%v", v)
	}
}

func TestRoomStateCIDAndAcks(t *testing.T) {
	rs := &roomState{id: 1}
	rs.checkCID("a", 1)
	rs.checkCID("a", 1) // the same delivery seen again is not a second store
	rs.checkCID("b", 2)
	rs.checkCID("a", 3) // cid a stored again as seq 3
	if rs.storedTwice != 1 {
		t.Fatalf("storedTwice = %d", rs.storedTwice)
	}
	rs.ackedSeq(5)
	rs.ackedSeq(3)
	if rs.maxAcked.Load() != 5 {
		t.Fatalf("maxAcked %d", rs.maxAcked.Load())
	}
}
