package main

import (
	"encoding/json"
	"fmt"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Histograms record microseconds from 1 µs to 10 minutes: a delivery held up
// by a failover or a stalled server is still counted, not clipped.
const (
	histLowest  = 1
	histHighest = 10 * 60 * 1_000_000
	histSigFigs = 3
	// Per-second timeline histograms only feed charts; 2 digits keep 600 of
	// them small.
	timelineSigFigs = 2
)

func newHist() *hdr.Histogram { return hdr.New(histLowest, histHighest, histSigFigs) }

func newTimelineHist() *hdr.Histogram { return hdr.New(histLowest, histHighest, timelineSigFigs) }

// recordMicros clamps into the trackable range so a bad clock never drops a
// sample (RecordValue rejects values out of range).
func recordMicros(h *hdr.Histogram, us int64) {
	if us < histLowest {
		us = histLowest
	}
	if us > histHighest {
		us = histHighest
	}
	_ = h.RecordValue(us)
}

// Hist wraps a histogram so it travels in JSON (between -procs children and
// their parent) as the standard compressed base64 HdrHistogram V2 encoding.
type Hist struct{ H *hdr.Histogram }

// MarshalJSON encodes the histogram; nil encodes as null.
func (h Hist) MarshalJSON() ([]byte, error) {
	if h.H == nil {
		return []byte("null"), nil
	}
	b, err := h.H.Encode(hdr.V2CompressedEncodingCookieBase)
	if err != nil {
		return nil, fmt.Errorf("encode histogram: %w", err)
	}
	return json.Marshal(string(b))
}

// UnmarshalJSON decodes what MarshalJSON wrote.
func (h *Hist) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		h.H = nil
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("histogram: %w", err)
	}
	d, err := hdr.Decode([]byte(s))
	if err != nil {
		return fmt.Errorf("decode histogram: %w", err)
	}
	h.H = d
	return nil
}

// mergeInto adds src into *dst, creating dst like src when it is nil.
func mergeInto(dst **hdr.Histogram, src *hdr.Histogram) {
	if src == nil {
		return
	}
	if *dst == nil {
		*dst = src.Clone()
		return
	}
	(*dst).Merge(src)
}

// LatencyMS is the full percentile set, in milliseconds.
type LatencyMS struct {
	P50   float64 `json:"p50"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Max   float64 `json:"max"`
	Count int64   `json:"count"`
}

func latencyMS(h *hdr.Histogram) LatencyMS {
	if h == nil || h.TotalCount() == 0 {
		return LatencyMS{}
	}
	return LatencyMS{
		P50:   usToMS(h.ValueAtQuantile(50)),
		P95:   usToMS(h.ValueAtQuantile(95)),
		P99:   usToMS(h.ValueAtQuantile(99)),
		P999:  usToMS(h.ValueAtQuantile(99.9)),
		Max:   usToMS(h.Max()),
		Count: h.TotalCount(),
	}
}

func usToMS(us int64) float64 { return round3(float64(us) / 1000) }

func round3(f float64) float64 {
	if f < 0 {
		return -round3(-f)
	}
	return float64(int64(f*1000+0.5)) / 1000
}
