package cachemw

import (
	"net/http"
	"strings"
)

// stripConditional returns r without validators, so the origin answers a
// full 200 the cache can store; the cache then evaluates the validators
// itself against what it stored.
func stripConditional(r *http.Request) *http.Request {
	if r.Header.Get("If-None-Match") == "" && r.Header.Get("If-Modified-Since") == "" {
		return r
	}
	r2 := r.Clone(r.Context())
	r2.Header.Del("If-None-Match")
	r2.Header.Del("If-Modified-Since")
	return r2
}

// notModified evaluates If-None-Match (weak comparison), else
// If-Modified-Since, against a stored 200 (RFC 9110 §13.1.2, §13.1.3).
func notModified(r *http.Request, h http.Header) bool {
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		etag := h.Get("ETag")
		if etag == "" {
			return false
		}
		for _, t := range strings.Split(inm, ",") {
			t = strings.TrimSpace(t)
			if t == "*" || strings.TrimPrefix(t, "W/") == strings.TrimPrefix(etag, "W/") {
				return true
			}
		}
		return false
	}
	ims, lm := r.Header.Get("If-Modified-Since"), h.Get("Last-Modified")
	if ims == "" || lm == "" {
		return false
	}
	t1, err1 := http.ParseTime(ims)
	t2, err2 := http.ParseTime(lm)
	return err1 == nil && err2 == nil && !t2.After(t1)
}
