package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// DecodeClientFrame parses one WebSocket text frame into a ClientFrame and
// checks what every frame type shares: valid UTF-8 (json.Unmarshal would
// silently turn invalid bytes into U+FFFD), a known type, and no negative
// room or since. Whether a type needs a room, and the caller's right to it,
// is the handler's business. Every error is a bad_request whose text may be
// shown to the client; with it comes whatever cid and room the frame named
// (none for malformed JSON), for the error event.
func DecodeClientFrame(data []byte) (ClientFrame, error) {
	if !utf8.Valid(data) {
		return ClientFrame{}, errors.New("frame is not valid UTF-8")
	}
	var f ClientFrame
	if err := json.Unmarshal(data, &f); err != nil {
		return ClientFrame{}, errors.New("malformed JSON frame: " + err.Error())
	}
	// {"room":1,"room":2} means two things to two parsers: refuse it, as
	// REST bodies are refused.
	if key, dup, err := DuplicateKey(data); err != nil || dup {
		if err == nil {
			err = fmt.Errorf("duplicate key %q", shortKey(key))
		}
		return ClientFrame{}, errors.New("malformed JSON frame: " + err.Error())
	}
	switch f.Type {
	case TypeSubscribe, TypeUnsubscribe, TypeSend, TypeTyping, TypePing,
		TypeEdit, TypeDelete, TypeReact, TypeUnreact:
	case "":
		return f, errors.New("frame has no type")
	default:
		t := f.Type
		if len(t) > 32 {
			t = t[:32] + "…"
		}
		return f, fmt.Errorf("unknown frame type %q", t)
	}
	if f.Room < 0 {
		return f, errors.New("room must be a positive integer")
	}
	if f.Seq < 0 {
		return f, errors.New("seq must be a positive integer")
	}
	if f.Since != nil && *f.Since < 0 {
		return f, errors.New("since must be a non-negative integer")
	}
	return f, nil
}

// shortKey cuts a key for an error message: it may be most of a frame.
func shortKey(k string) string {
	if len(k) <= 64 {
		return k
	}
	cut := 64
	for cut > 0 && !utf8.RuneStart(k[cut]) {
		cut--
	}
	return k[:cut] + "…"
}
