package wire

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeClientFrame feeds arbitrary text frames to the decoder the
// WebSocket read loop uses: it must never panic, must accept only frames a
// handler can serve, and must hand back only valid UTF-8 for the error event.
func FuzzDecodeClientFrame(f *testing.F) {
	for _, s := range []string{
		`{"type":"send","room":1,"body":"hi","cid":"c1"}`,
		`{"type":"subscribe","room":7,"since":0}`,
		`{"type":"subscribe","room":7,"since":-1}`,
		`{"type":"unsubscribe","room":-3}`,
		`{"type":"typing","room":2}`,
		`{"type":"ping"}`,
		`{"type":"dance","room":1,"cid":"x"}`,
		`{"room":1}`,
		`{"type":"send",`,
		`[1,2,3]`,
		`null`,
		`{"type":"send","room":"one"}`,
		`{"TYPE":"send","Room":9223372036854775807,"body":"\u0000\ud800"}`,
		`{"type":"send","room":1e3}`,
		`{"type":"send","room":1,"body":"caf` + "\xe9" + `"}`,
		`{"type":"send","type":"ping"}`,
		"",
	} {
		f.Add([]byte(s))
	}
	known := map[string]bool{TypeSubscribe: true, TypeUnsubscribe: true, TypeSend: true, TypeTyping: true, TypePing: true}
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := DecodeClientFrame(data)
		if err != nil {
			if err.Error() == "" || !utf8.ValidString(err.Error()) {
				t.Fatalf("error text %q", err.Error())
			}
			// The error event echoes cid and room: never from bytes that
			// were not even UTF-8.
			if !utf8.ValidString(fr.CID) || !utf8.Valid(data) && !reflect.ValueOf(fr).IsZero() {
				t.Fatalf("error frame %+v", fr)
			}
			return
		}
		if !utf8.Valid(data) {
			t.Fatalf("accepted invalid UTF-8 %q", data)
		}
		if !known[fr.Type] || fr.Room < 0 || fr.Since != nil && *fr.Since < 0 {
			t.Fatalf("accepted %+v", fr)
		}
		if !utf8.ValidString(fr.Body) || !utf8.ValidString(fr.CID) {
			t.Fatalf("invalid UTF-8 in %+v", fr)
		}
		// What was accepted survives a round trip unchanged.
		again, err := DecodeClientFrame(Encode(fr))
		if err != nil || !reflect.DeepEqual(again, fr) {
			t.Fatalf("round trip of %+v: %+v, %v", fr, again, err)
		}
		// The decoder agrees with plain json.Unmarshal on what it accepts.
		var plain ClientFrame
		if err := json.Unmarshal(data, &plain); err != nil || !reflect.DeepEqual(plain, fr) {
			t.Fatalf("json.Unmarshal disagrees: %+v, %v", plain, err)
		}
		if strings.TrimSpace(string(data)) == "" {
			t.Fatal("accepted an empty frame")
		}
	})
}
