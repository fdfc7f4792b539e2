package main

import (
	"strconv"
	"strings"
	"time"
)

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
