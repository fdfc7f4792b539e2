package chatclient

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func batchFrame(n int) []byte {
	var parts []string
	for i := 0; i < n; i++ {
		parts = append(parts, fmt.Sprintf(`{"type":"message","room":42,"seq":%d,"user":{"id":1234,"name":"lt-abcdef-1234"},"body":"lt1 t=1800000000123456789 u=1234 n=99 %s","cid":"run-abc-xyz-%d","ts":"2026-01-01T00:00:00.123456Z"}`, 1000+i, strings.Repeat(".", 50), i))
	}
	parts = append(parts, `{"type":"ack","cid":"c","room":42,"seq":9,"duplicate":true}`, `{"type":"presence","room":42,"user":7,"online":true}`,
		`{"type":"edit","room":42,"seq":10,"target":8,"user":{"id":1,"name":"a"},"body":"new","cid":"c-2","ts":"2026-01-01T00:00:00Z"}`,
		`{"type":"reaction","room":42,"seq":11,"target":8,"user":{"id":2,"name":"b"},"emoji":"👍","op":"remove","cid":"c-3","ts":"2026-01-01T00:00:00Z"}`,
		`{"type":"ack","cid":"c-4","room":42,"seq":0,"target":8,"noop":true}`)
	return []byte("[" + strings.Join(parts, ",") + "]")
}

// TestLeanDecode: the lean decoder agrees with DecodeFrame but for user
// and ts; the fast path for user agrees with encoding/json.
func TestLeanDecode(t *testing.T) {
	f := batchFrame(3)
	full, err := DecodeFrame(f)
	if err != nil {
		t.Fatal(err)
	}
	lean, err := decodeLean(f)
	if err != nil || len(lean) != len(full) {
		t.Fatal(lean, err)
	}
	for i := range full {
		want := full[i]
		want.User, want.TS = UserRef{}, ""
		if !reflect.DeepEqual(lean[i], want) {
			t.Fatalf("%d: %+v, want %+v", i, lean[i], want)
		}
	}
	if full[0].User != (UserRef{ID: 1234, Name: "lt-abcdef-1234"}) || full[4].User.ID != 7 ||
		lean[5].Target != 8 || lean[5].Body != "new" || lean[6].Op != "remove" || lean[6].Emoji != "👍" || !lean[7].Noop {
		t.Fatalf("%+v", full)
	}
	for _, s := range []string{`{"id":1,"name":"a\"b"}`, `{"name":"x","id":2}`, `{"id":3,"name":"é"}`, `{"id":4, "name":"y"}`} {
		var fast, slow UserRef
		if err := fast.UnmarshalJSON([]byte(s)); err != nil {
			t.Fatal(s, err)
		}
		type plain UserRef
		if err := json.Unmarshal([]byte(s), (*plain)(&slow)); err != nil || fast != slow {
			t.Fatalf("%s: %+v vs %+v", s, fast, slow)
		}
	}
	for _, bad := range []string{"", "  ", "[1]", "{"} {
		if _, err := decodeLean([]byte(bad)); err == nil {
			t.Errorf("%q decoded", bad)
		}
	}
}

func BenchmarkDecodeFrame(b *testing.B) {
	f := batchFrame(10)
	b.ReportAllocs()
	for b.Loop() {
		_, _ = DecodeFrame(f)
	}
}

func BenchmarkDecodeLean(b *testing.B) {
	f := batchFrame(10)
	b.ReportAllocs()
	for b.Loop() {
		_, _ = decodeLean(f)
	}
}
