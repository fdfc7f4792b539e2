package gateway

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chatgate/chatgate/chatcore/store"
)

func TestSearchCursor(t *testing.T) {
	c := store.SearchCursor{TS: time.Date(2026, 12, 4, 18, 25, 54, 703667000, time.UTC), Room: 42, Seq: 7}
	got, ok := decodeSearchCursor(encodeSearchCursor(c))
	if !ok || !got.TS.Equal(c.TS) || got.Room != 42 || got.Seq != 7 {
		t.Fatalf("round trip: %+v %v", got, ok)
	}
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, bad := range []string{"", "!!!", enc("s1.1.2"), enc("s1.1.2.3.4"), enc("s2.1.2.3"), enc("s1.-1.2.3"),
		enc("s1.1.0.3"), enc("s1.1.2.03"), enc("s1.1.2.+3"), enc("s1.99999999999999999999.2.3"),
		enc("s1.1.2.3") + "=", strings.Repeat("A", 101)} {
		if _, ok := decodeSearchCursor(bad); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParseSearch(t *testing.T) {
	q, ae := parseSearch(url.Values{"q": {"  apple pie "}, "room": {"3"}, "limit": {"50"}})
	if ae != nil || q.Text != "apple pie" || q.Room != 3 || q.Limit != 50 || q.Before != nil {
		t.Fatalf("%+v %v", q, ae)
	}
	if q, ae := parseSearch(url.Values{"q": {strings.Repeat("é", 128)}}); ae != nil || q.Limit != 20 {
		t.Fatalf("256 bytes: %v", ae)
	}
	for _, v := range []url.Values{{}, {"q": {" "}}, {"q": {strings.Repeat("é", 128) + "a"}}, {"q": {"\xff"}},
		{"q": {"a\x00"}}, {"q": {"a"}, "room": {"0"}}, {"q": {"a"}, "limit": {"0"}}, {"q": {"a"}, "limit": {"x"}},
		{"q": {"a"}, "before": {"x"}}} {
		if _, ae := parseSearch(v); ae == nil || ae.status != 400 {
			t.Errorf("%v: %v", v, ae)
		}
	}
}
