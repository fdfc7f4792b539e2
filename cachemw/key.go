package cachemw

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// key derives the storage key of a request under route rt for identity id
// (empty on public routes). HEAD shares GET's key: a HEAD is answered from
// the GET entry. Fields are length-prefixed so no two different requests can
// produce the same preimage by moving a separator.
func (rt *Route) key(r *http.Request, id string) string {
	h := sha256.New()
	put := func(s string) {
		var n [4]byte
		l := len(s)
		n[0], n[1], n[2], n[3] = byte(l>>24), byte(l>>16), byte(l>>8), byte(l)
		h.Write(n[:])
		h.Write([]byte(s))
	}
	put(http.MethodGet)
	put(strings.ToLower(r.Host))
	put(r.URL.EscapedPath())
	q := r.URL.Query()
	if rt.VaryQuery == nil {
		// No list: the whole query counts, so two requests that differ in
		// any parameter never share an entry.
		put(canonicalQuery(q, nil))
	} else {
		put(canonicalQuery(q, rt.VaryQuery))
	}
	for _, name := range rt.VaryHeader {
		put(name)
		put(strings.Join(r.Header.Values(name), "\x00"))
	}
	put(id)
	return hex.EncodeToString(h.Sum(nil)[:20])
}

// canonicalQuery renders q sorted, restricted to names when names != nil.
func canonicalQuery(q url.Values, names []string) string {
	if names != nil {
		only := make(url.Values, len(names))
		for _, n := range names {
			if v, ok := q[n]; ok {
				only[n] = v
			}
		}
		q = only
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		for _, v := range q[k] {
			b.WriteString(url.QueryEscape(k))
			b.WriteByte('=')
			b.WriteString(url.QueryEscape(v))
			b.WriteByte('&')
		}
	}
	return b.String()
}
