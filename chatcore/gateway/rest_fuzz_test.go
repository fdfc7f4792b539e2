package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/chatgate/chatgate/chatcore/wire"
)

// FuzzDecode feeds arbitrary request bodies to the REST body decoder under a
// small size limit: it must never panic, must answer either a value or a 4xx
// *apiError, must refuse every body over the limit and never call a body
// within it too large, must accept only one complete JSON value, and must
// refuse a body exactly when an object in it repeats a key (compared as
// encoding/json matches keys to fields, by strings.EqualFold: the oracle
// below compares pairwise, the decoder by folded key).
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"name":"Ann","email":"ann@example.com","password":"secret123"}`,
		`{"body":"hi","cid":"c1"}`,
		`{"user_id":5}`,
		`{"seq":-1}`,
		`{"name":`,
		``,
		`   `,
		`null`,
		`[]`,
		`"str"`,
		`{} {}`,
		`{}}`,
		`{}]`,
		`{} x`,
		`{"user_id":"5"}`,
		`{"user_id":1e400}`,
		`{"name":"caf` + "\xe9" + `"}`,
		`{"a":[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]}`,
		`{"name":"x","is_private":true,"is_private":false}`,
		`{"name":"x","is_private":true,"IS_PRIVATE":false}`,
		`{"a":{"b":1,"B":2}}`,
		`[{"k":1,"\u212a":2}]`,
		`{"s":1,"\u017f":2}`,
		`{"a":{"x":1},"b":{"x":1}}`,
	} {
		f.Add([]byte(s), uint16(64))
	}
	f.Add([]byte(`{"body":"`+string(bytes.Repeat([]byte("x"), 100))+`"}`), uint16(32))
	f.Add(append([]byte(`{}`), bytes.Repeat([]byte(" "), 100)...), uint16(16))
	f.Fuzz(func(t *testing.T, body []byte, limit uint16) {
		a := &API{cfg: APIConfig{MaxRequest: int64(limit%4096) + 1}}
		max := a.cfg.MaxRequest
		for _, target := range []func() any{
			func() any { return new(authRequest) },
			func() any {
				return new(struct {
					UserID int64 `json:"user_id"`
				})
			},
			func() any { return new(struct{ Body, CID string }) },
			func() any { return new(any) },
		} {
			v := target()
			r := httptest.NewRequest(http.MethodPost, "/api/rooms", bytes.NewReader(body))
			err := a.decode(httptest.NewRecorder(), r, v)
			if err == nil {
				if int64(len(body)) > max {
					t.Fatalf("accepted %d bytes over a %d byte limit", len(body), max)
				}
				// Exactly one JSON value, read as json.Unmarshal reads it.
				want := target()
				if uerr := json.Unmarshal(body, want); uerr != nil || !reflect.DeepEqual(v, want) {
					t.Fatalf("decoded %q to %#v; json.Unmarshal: %#v, %v", body, v, want, uerr)
				}
				if hasEqualFoldKeys(t, body) {
					t.Fatalf("accepted %q with a duplicate key", body)
				}
				continue
			}
			var ae *apiError
			if !errors.As(err, &ae) {
				t.Fatalf("%q: error %T %v is not an *apiError", body, err, err)
			}
			switch {
			case ae.status == http.StatusRequestEntityTooLarge && ae.code == wire.CodeTooLarge:
				if int64(len(body)) <= max {
					t.Fatalf("%d bytes within a %d byte limit called too large", len(body), max)
				}
			case ae.status == http.StatusBadRequest && ae.code == wire.CodeBadRequest:
			default:
				t.Fatalf("%q: %d %s", body, ae.status, ae.code)
			}
			if ae.msg == "" {
				t.Fatalf("%q: empty message", body)
			}
			if strings.Contains(ae.msg, "duplicate key") && !hasEqualFoldKeys(t, body) {
				t.Fatalf("%q refused as a duplicate: %s", body, ae.msg)
			}
		}
	})
}

// hasEqualFoldKeys is the fuzz oracle for duplicate keys: body (one valid
// JSON value) has an object with two keys equal under strings.EqualFold,
// found by comparing every pair, the slow obvious way.
func hasEqualFoldKeys(t *testing.T, body []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var walk func() bool
	walk = func() bool {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("oracle on %q: %v", body, err)
		}
		switch tok {
		case json.Delim('{'):
			var keys []string
			dup := false
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					t.Fatalf("oracle on %q: %v", body, err)
				}
				for _, prev := range keys {
					dup = dup || strings.EqualFold(prev, k.(string))
				}
				keys = append(keys, k.(string))
				dup = walk() || dup
			}
			_, _ = dec.Token() // '}'
			return dup
		case json.Delim('['):
			dup := false
			for dec.More() {
				dup = walk() || dup
			}
			_, _ = dec.Token() // ']'
			return dup
		}
		return false
	}
	return walk()
}

// FuzzParsePage feeds arbitrary query strings to the pagination parser of
// GET /api/rooms/{id}/messages.
func FuzzParsePage(f *testing.F) {
	for _, s := range []string{
		"", "limit=50", "limit=1", "limit=200", "limit=0", "limit=201", "limit=-1", "limit=x",
		"limit=99999999999999999999", "limit=+5", "limit= 5", "limit=1&limit=500",
		"before=5&limit=3", "before=0", "before=-1", "before=9223372036854775807",
		"before=9223372036854775808", "after=abc", "after=0", "after=7&limit=10",
		"before=3&after=1", "before=&after=", "before=1e3", "after=0x10", "before=%00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, _ := url.ParseQuery(raw)
		p, ae := parsePage(q)
		if ae != nil {
			if ae.status != http.StatusBadRequest || ae.code != wire.CodeBadRequest || ae.msg == "" {
				t.Fatalf("%q: %+v", raw, ae)
			}
			return
		}
		if p.limit < 1 || p.limit > 200 {
			t.Fatalf("%q: limit %d", raw, p.limit)
		}
		if p.hasBefore && p.hasAfter {
			t.Fatalf("%q: both before and after accepted", raw)
		}
		if p.before < 0 || p.after < 0 || !p.hasBefore && p.before != 0 || !p.hasAfter && p.after != 0 {
			t.Fatalf("%q: %+v", raw, p)
		}
		// What was accepted is what was asked for.
		for _, c := range []struct {
			name string
			has  bool
			v    int64
		}{{"before", p.hasBefore, p.before}, {"after", p.hasAfter, p.after}} {
			s := q.Get(c.name)
			if n, err := strconv.ParseInt(s, 10, 64); c.has != (s != "") || c.has && (err != nil || n != c.v) {
				t.Fatalf("%q: %s=%q read as %+v", raw, c.name, s, p)
			}
		}
		if s := q.Get("limit"); s != "" {
			if n, err := strconv.Atoi(s); err != nil || n != p.limit {
				t.Fatalf("%q: limit=%q read as %d", raw, s, p.limit)
			}
		} else if p.limit != 50 {
			t.Fatalf("%q: default limit %d", raw, p.limit)
		}
	})
}
