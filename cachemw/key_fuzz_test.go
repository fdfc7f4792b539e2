package cachemw

import (
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// FuzzKey builds response-cache keys from arbitrary requests: a key must be
// deterministic, of fixed length and plain hex, shared by GET and HEAD and
// by host spellings that differ only in ASCII case, never shared by two users or
// by two different queries on a route that varies on the whole query, and
// not changed by a parameter the route does not vary on.
func FuzzKey(f *testing.F) {
	f.Add("example.com", "/api/rooms/1/messages", "after=5&limit=50", "limit=50&after=5", "en", "42", "43", uint8(0))
	f.Add("Example.COM", "/api/me", "", "", "", "1", "", uint8(1))
	f.Add("h", "/a b/%2F/ü", "a=1&a=2", "a=2&a=1", "x\x00y", "u\x00", "u", uint8(2))
	f.Add("h", "/", "a=1;b=2", "a=1&b=2", "", "\n", "\r", uint8(3))
	f.Add("h", "/p", "a=%zz&b=", "b=", "v", "7", "07", uint8(0))
	f.Add("", "", "=&&=", "%3D", "", "", "", uint8(2))
	f.Fuzz(func(t *testing.T, host, path, rawQuery, rawQuery2, hdr, id, id2 string, mode uint8) {
		rt := &Route{Name: "fuzz"}
		switch mode % 4 {
		case 1:
			rt.VaryQuery = []string{}
		case 2:
			rt.VaryQuery = []string{"after", "limit", "a"}
		case 3:
			rt.VaryHeader = []string{"Accept-Language", "X-Fuzz"}
		}
		req := func(method, host, rawQuery string) *http.Request {
			r := &http.Request{Method: method, Host: host, URL: &url.URL{Path: path, RawQuery: rawQuery}, Header: http.Header{}}
			r.Header.Set("Accept-Language", hdr)
			r.Header.Add("X-Fuzz", hdr)
			r.Header.Add("X-Fuzz", id)
			return r
		}
		r := req(http.MethodGet, host, rawQuery)
		k := rt.key(r, id)
		if len(k) != 40 || strings.Trim(k, "0123456789abcdef") != "" {
			t.Fatalf("key %q is not 40 hex digits", k)
		}
		if rt.key(r, id) != k || rt.key(req(http.MethodGet, host, rawQuery), id) != k {
			t.Fatal("key is not deterministic")
		}
		// Host names are ASCII (IDNs travel as punycode): upper-case only
		// that, since Unicode case mapping does not round-trip (ϐ, Β, β).
		upper := strings.Map(func(r rune) rune {
			if 'a' <= r && r <= 'z' {
				return r - 'a' + 'A'
			}
			return r
		}, host)
		if rt.key(req(http.MethodHead, upper, rawQuery), id) != k {
			t.Fatal("HEAD or an upper-case host changes the key")
		}
		if id != id2 && rt.key(r, id2) == k {
			t.Fatalf("users %q and %q share key %s", id, id2, k)
		}
		if rt.VaryQuery != nil && rt.key(req(http.MethodGet, host, rawQuery+"&not_varied="+url.QueryEscape(hdr)), id) != k {
			t.Fatal("a parameter outside VaryQuery changes the key")
		}
		if rt.VaryQuery == nil {
			r2 := req(http.MethodGet, host, rawQuery2)
			same := reflect.DeepEqual(r.URL.Query(), r2.URL.Query())
			if same != (rt.key(r2, id) == k) {
				t.Fatalf("queries %q and %q: same values %v, same key %v", rawQuery, rawQuery2, same, !same)
			}
		}
	})
}
