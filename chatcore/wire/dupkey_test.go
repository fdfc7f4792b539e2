package wire

import (
	"strings"
	"testing"
)

func TestDuplicateKey(t *testing.T) {
	for body, want := range map[string]string{
		`{"name":"x","is_private":true,"is_private":false}`: "is_private",
		`{"name":"x","is_private":true,"IS_PRIVATE":false}`: "IS_PRIVATE",
		`{"is_private":true,"is\u005fprivate":false}`:       "is_private",
		`{"is_private":true,"i\u017f_private":false}`:       "iſ_private", // long s folds to s, as encoding/json matches it
		`{"a":{"b":1,"b":2}}`:                               "b",
		`{"a":[{"b":1},{"c":1,"c":2}]}`:                     "c",
		`[{"x":1,"y":{"z":[1,{"q":1,"q":1}]}}]`:             "q",
		`{"":1,"":2}`:                                       "",
	} {
		got, dup, err := DuplicateKey([]byte(body))
		if err != nil || !dup || got != want {
			t.Errorf("%s: %q %v %v, want duplicate %q", body, got, dup, err, want)
		}
	}
	for _, body := range []string{
		`{"a":1,"b":{"a":2},"c":[{"a":3}],"d":"a"}`,
		`{"a":{"a":{"a":{}}}}`,
		`{"a":1e400,"b":"a","c":null,"d":[1,"a",true]}`,
		`{"a":"b","b":"a"}`,
		`{}`, `[]`, `"a"`, `1`,
	} {
		if got, dup, err := DuplicateKey([]byte(body)); err != nil || dup {
			t.Errorf("%s: duplicate %q %v %v", body, got, dup, err)
		}
	}
}

func TestFoldKeyMatchesEqualFold(t *testing.T) {
	pairs := [][2]string{{"is_private", "IS_PRIVATE"}, {"s", "ſ"}, {"k", "\u212a"}, {"ß", "ẞ"}, {"Σ", "ς"}, {"a", "b"}, {"é", "É"}, {"i", "İ"}}
	for _, p := range pairs {
		if (FoldKey(p[0]) == FoldKey(p[1])) != strings.EqualFold(p[0], p[1]) {
			t.Errorf("%q %q: foldKey equal %v, EqualFold %v", p[0], p[1], FoldKey(p[0]) == FoldKey(p[1]), strings.EqualFold(p[0], p[1]))
		}
	}
}

// TestDecodeClientFrameDuplicateKeys: a frame naming a field twice, in any
// spelling encoding/json would match, is refused before anything reads it.
func TestDecodeClientFrameDuplicateKeys(t *testing.T) {
	for _, frame := range []string{
		`{"type":"send","room":1,"room":2,"body":"x","cid":"a"}`,
		`{"type":"send","room":1,"ROOM":2,"body":"x","cid":"a"}`,
		`{"type":"send","room":1,"r\u006fom":2,"body":"x","cid":"a"}`,
		`{"type":"subscribe","type":"send","room":1}`,
	} {
		if _, err := DecodeClientFrame([]byte(frame)); err == nil || !strings.Contains(err.Error(), "duplicate key") {
			t.Errorf("%s: %v, want a duplicate key error", frame, err)
		}
	}
	if f, err := DecodeClientFrame([]byte(`{"type":"send","room":7,"body":"room room","cid":"room"}`)); err != nil || f.Room != 7 {
		t.Fatalf("a plain send: %+v %v", f, err)
	}
}

func BenchmarkDecodeClientFrame(b *testing.B) {
	frame := []byte(`{"type":"send","room":123,"body":"hello there, this is a fairly ordinary chat message","cid":"c-1733331234-42"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeClientFrame(frame); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDuplicateKeyPathsAgree: the byte scan answers like the token stream
// wherever it answers at all.
func TestDuplicateKeyPathsAgree(t *testing.T) {
	for _, body := range []string{
		`{"a":1,"A":2}`, `{"a":"}","b":"{","a":3}`, `{"a":"\"","b":1}`, `{"a":[{"a":1},{"b":2,"B":3}]}`,
		`{"x":{"y":{"z":{"w":{"v":{"u":{"t":{"s":{"r":1,"r":2}}}}}}}}}`, `{"k":1,"\u212a":2}`, `{"é":1,"É":2}`,
		`{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"a":9}`, `[1,"a",{"a":"a"}]`, `{"type":"send","room":1,"body":"{\"room\":2}"}`,
	} {
		wantKey, want, err := duplicateKeyTokens([]byte(body))
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		key, got, ok := duplicateKeyASCII([]byte(body))
		if !ok {
			continue // left to the token path
		}
		if got != want || (want && !strings.EqualFold(key, wantKey)) {
			t.Errorf("%s: scan %q %v, tokens %q %v", body, key, got, wantKey, want)
		}
	}
}
