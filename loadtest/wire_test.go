package main

import (
	"errors"
	"strings"
	"testing"
	"time"
)

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
