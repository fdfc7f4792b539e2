package main

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDecodeEventsSingleAndBatch(t *testing.T) {
	evs, err := decodeEvents([]byte(`{"type":"ack","cid":"a","room":3,"seq":7}`))
	if err != nil || len(evs) != 1 || evs[0].Type != "ack" || evs[0].Seq != 7 || evs[0].CID != "a" {
		t.Fatalf("single: %+v %v", evs, err)
	}
	batch := `  [{"type":"message","room":1,"seq":1,"user":{"id":2,"name":"x"},"body":"b","cid":"c","ts":"2026-01-01T00:00:00.1Z"},
	{"type":"typing","room":1,"user":5},{"type":"subscribed","room":1,"last_seq":9}]`
	evs, err = decodeEvents([]byte(batch))
	if err != nil || len(evs) != 3 {
		t.Fatalf("batch: %+v %v", evs, err)
	}
	if evs[0].Type != "message" || evs[0].Body != "b" || evs[2].LastSeq != 9 || evs[1].Type != "typing" {
		t.Fatalf("batch order or fields wrong: %+v", evs)
	}
	for _, bad := range []string{"", "   ", "{", "[1,2]", "nope"} {
		if _, err := decodeEvents([]byte(bad)); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

func TestBodyCarriesIntendedTime(t *testing.T) {
	at := time.Unix(1_800_000_000, 123456789)
	for _, size := range []int{48, 100, 1000} {
		b := makeBody(at, 123456, 99999, size)
		if len(b) != size {
			t.Fatalf("size %d: got %d bytes", size, len(b))
		}
		got, ok := bodyTime(b)
		if !ok || !got.Equal(at) {
			t.Fatalf("size %d: bodyTime = %v %v, want %v", size, got, ok, at)
		}
	}
	if _, ok := bodyTime("hello"); ok {
		t.Fatal("foreign body must not parse")
	}
	if _, ok := bodyTime(bodyPrefix + "xyz rest"); ok {
		t.Fatal("bad number must not parse")
	}
}

func TestEncodeFrames(t *testing.T) {
	if got := string(encodeSubscribe(4, nil)); got != `{"type":"subscribe","room":4}` {
		t.Fatalf("subscribe without since: %s", got)
	}
	zero := int64(0)
	if got := string(encodeSubscribe(4, &zero)); got != `{"type":"subscribe","room":4,"since":0}` {
		t.Fatalf("since 0 must be sent: %s", got)
	}
	got := string(encodeSend(4, `a"b`, "c1"))
	if !strings.Contains(got, `"body":"a\"b"`) || !strings.Contains(got, `"type":"send"`) {
		t.Fatalf("send: %s", got)
	}
}

func TestShortErrMasksAddresses(t *testing.T) {
	a := shortErr(errors.New("read tcp 127.0.0.10:49898->127.0.0.1:18080: i/o timeout"))
	b := shortErr(errors.New("read tcp 127.0.0.3:1->127.0.0.1:18080: i/o timeout"))
	if a != b || a != "read tcp ADDR->ADDR: i/o timeout" {
		t.Fatalf("%q vs %q", a, b)
	}
	if got := shortErr(errors.New(strings.Repeat("x", 500))); len(got) != 200 {
		t.Fatalf("long message kept %d bytes", len(got))
	}
}
