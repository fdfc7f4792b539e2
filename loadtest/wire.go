package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// event is the union of the server → client frames of PROTOCOL.md that the
// generator reads. Unknown fields are ignored so protocol additions never
// break it. "user" is left out: it is an object in messages and an integer
// in typing events.
type event struct {
	Type    string `json:"type"`
	Room    int64  `json:"room"`
	Seq     int64  `json:"seq"`
	LastSeq int64  `json:"last_seq"`
	Body    string `json:"body"`
	CID     string `json:"cid"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// decodeEvents reads one text frame: a single event or a JSON array of
// events (the server batches), returned in order.
func decodeEvents(data []byte) ([]event, error) {
	data = bytes.TrimLeft(data, " \t\r\n")
	if len(data) == 0 {
		return nil, fmt.Errorf("empty frame")
	}
	if data[0] == '[' {
		var evs []event
		if err := json.Unmarshal(data, &evs); err != nil {
			return nil, fmt.Errorf("decode event batch: %w", err)
		}
		return evs, nil
	}
	var ev event
	if err := json.Unmarshal(data, &ev); err != nil {
		return nil, fmt.Errorf("decode event: %w", err)
	}
	return []event{ev}, nil
}

// Client → server frames.
type subscribeFrame struct {
	Type  string `json:"type"`
	Room  int64  `json:"room"`
	Since *int64 `json:"since,omitempty"`
}

type sendFrame struct {
	Type string `json:"type"`
	Room int64  `json:"room"`
	Body string `json:"body"`
	CID  string `json:"cid"`
}

var pingFrame = []byte(`{"type":"ping"}`)

func encodeSubscribe(room int64, since *int64) []byte {
	b, _ := json.Marshal(subscribeFrame{Type: "subscribe", Room: room, Since: since})
	return b
}

func encodeSend(room int64, body, cid string) []byte {
	b, _ := json.Marshal(sendFrame{Type: "send", Room: room, Body: body, CID: cid})
	return b
}

// bodyPrefix marks bodies written by this tool; the intended send time
// follows so any receiver computes latency without shared state.
const bodyPrefix = "lt1 t="

// makeBody builds a body of exactly size bytes carrying the intended send
// time (Unix ns), the sender and its counter. Latency is measured from the
// intended time, not the write, so a stalled server or generator cannot hide
// (open loop, no coordinated omission).
func makeBody(intended time.Time, uid, n int64, size int) string {
	var sb strings.Builder
	sb.Grow(size)
	sb.WriteString(bodyPrefix)
	sb.WriteString(strconv.FormatInt(intended.UnixNano(), 10))
	sb.WriteString(" u=")
	sb.WriteString(strconv.FormatInt(uid, 10))
	sb.WriteString(" n=")
	sb.WriteString(strconv.FormatInt(n, 10))
	sb.WriteByte(' ')
	for sb.Len() < size {
		sb.WriteByte('.')
	}
	s := sb.String()
	if len(s) > size {
		s = s[:size]
	}
	return s
}

// bodyTime extracts the intended send time from a body made by makeBody.
func bodyTime(body string) (time.Time, bool) {
	if !strings.HasPrefix(body, bodyPrefix) {
		return time.Time{}, false
	}
	rest := body[len(bodyPrefix):]
	end := strings.IndexByte(rest, ' ')
	if end < 0 {
		end = len(rest)
	}
	ns, err := strconv.ParseInt(rest[:end], 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, ns), true
}

// restMessage is the subset of MSG read from the REST history (gap repair).
type restMessage struct {
	Room int64  `json:"room"`
	Seq  int64  `json:"seq"`
	Body string `json:"body"`
	CID  string `json:"cid"`
}
