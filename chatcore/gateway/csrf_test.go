package gateway

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chatgate/chatgate/chatcore/auth"
)

// TestCheckSite is the CSRF rule table (csrf.go), request by request.
func TestCheckSite(t *testing.T) {
	a := &API{origins: originSet([]string{"https://app.example.com", "*", "http://LISTED.example:8443/"})}
	type req struct {
		method, host, body string
		tls                bool
		h                  map[string]string
		cookie             bool
	}
	json := map[string]string{"Content-Type": "application/json"}
	with := func(kv ...string) map[string]string {
		h := map[string]string{"Content-Type": "application/json"}
		for i := 0; i < len(kv); i += 2 {
			h[kv[i]] = kv[i+1]
		}
		return h
	}
	cases := []struct {
		name   string
		r      req
		status int // 0: allowed
		msg    string
	}{
		{"same origin, cookie", req{h: with("Origin", "http://chat.test:8080"), cookie: true}, 0, ""},
		{"same origin, default port", req{host: "chat.test", h: with("Origin", "http://chat.test:80"), cookie: true}, 0, ""},
		{"same origin over TLS", req{host: "chat.test", tls: true, h: with("Origin", "https://CHAT.test"), cookie: true}, 0, ""},
		{"same origin behind a TLS proxy", req{host: "chat.test", h: with("Origin", "https://chat.test", "X-Forwarded-Proto", "https"), cookie: true}, 0, ""},
		{"listed origin", req{h: with("Origin", "https://app.example.com"), cookie: true}, 0, ""},
		{"listed origin, normalized", req{h: with("Origin", "http://listed.example:8443"), cookie: true}, 0, ""},
		{"foreign origin, text/plain", req{h: map[string]string{"Origin": "http://evil.example", "Content-Type": "text/plain"}, cookie: true}, 403, "cross-site request refused: Origin http://evil.example is not this site"},
		{"foreign origin, json", req{h: with("Origin", "http://evil.example"), cookie: true}, 403, "Origin http://evil.example is not this site"},
		{"Origin null", req{h: with("Origin", "null"), cookie: true}, 403, "Origin null is not this site"},
		{"same site, other port", req{host: "127.0.0.1:8080", h: with("Origin", "http://127.0.0.1:9999"), cookie: true}, 403, "is not this site"},
		{"other scheme", req{host: "chat.test", tls: true, h: with("Origin", "http://chat.test"), cookie: true}, 403, "is not this site"},
		{"https origin, plain request", req{host: "chat.test", h: with("Origin", "https://chat.test"), cookie: true}, 403, "is not this site"},
		{"origin with a path", req{h: with("Origin", "http://chat.test:8080/x"), cookie: true}, 403, "is not this site"},
		{"wildcard is not for writes", req{h: with("Origin", "http://anything.example"), cookie: true}, 403, "is not this site"},
		{"Sec-Fetch-Site same-origin", req{h: with("Sec-Fetch-Site", "same-origin"), cookie: true}, 0, ""},
		{"Sec-Fetch-Site same-site", req{h: with("Sec-Fetch-Site", "same-site"), cookie: true}, 403, "Sec-Fetch-Site is same-site"},
		{"Sec-Fetch-Site cross-site", req{h: with("Sec-Fetch-Site", "cross-site"), cookie: true}, 403, "Sec-Fetch-Site is cross-site"},
		{"Sec-Fetch-Site none", req{h: with("Sec-Fetch-Site", "none"), cookie: true}, 403, "Sec-Fetch-Site is none"},
		{"no Origin, foreign Referer", req{h: with("Referer", "http://evil.example/page"), cookie: true}, 403, "Referer http://evil.example/page is not this site"},
		{"no Origin, foreign Referer, no cookie", req{h: with("Referer", "http://evil.example/page")}, 403, "Referer"},
		{"no Origin, same Referer, cookie", req{h: with("Referer", "http://chat.test:8080/"), cookie: true}, 403, "must carry Origin or Sec-Fetch-Site"},
		{"no Origin, no Sec-Fetch-Site, cookie", req{h: json, cookie: true}, 403, "must carry Origin or Sec-Fetch-Site"},
		{"no Origin, no cookie (a bot signing in)", req{h: json, body: "{}"}, 0, ""},
		{"bearer from anywhere", req{h: with("Origin", "http://evil.example", "Authorization", "Bearer x"), cookie: true}, 0, ""},
		{"bearer, no headers at all", req{h: map[string]string{"Authorization": "Bearer x"}}, 0, ""},
		{"bearer with a text body", req{h: map[string]string{"Authorization": "Bearer x", "Content-Type": "text/plain"}, body: "{}"}, 415, "Content-Type must be application/json"},
		{"same origin, cookie, text/plain", req{h: map[string]string{"Origin": "http://chat.test:8080", "Content-Type": "text/plain"}, cookie: true}, 415, "Content-Type must be application/json"},
		{"same origin, cookie, no Content-Type", req{h: map[string]string{"Origin": "http://chat.test:8080"}, cookie: true}, 415, ""},
		{"form body, no cookie", req{h: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, body: "a=1"}, 415, ""},
		{"json with charset", req{h: map[string]string{"Origin": "http://chat.test:8080", "Content-Type": "application/json; charset=utf-8"}, cookie: true}, 0, ""},
		{"GET is never checked", req{method: "GET", h: map[string]string{"Origin": "http://evil.example"}, cookie: true}, 0, ""},
		{"DELETE is", req{method: "DELETE", h: with("Origin", "http://evil.example"), cookie: true}, 403, ""},
	}
	for _, c := range cases {
		method := c.r.method
		if method == "" {
			method = "POST"
		}
		r := httptest.NewRequest(method, "/api/rooms/1/members", strings.NewReader(c.r.body))
		r.Host = "chat.test:8080"
		if c.r.host != "" {
			r.Host = c.r.host
		}
		if c.r.tls {
			r.TLS = &tls.ConnectionState{}
		}
		for k, v := range c.r.h {
			r.Header.Set(k, v)
		}
		if c.r.cookie {
			r.AddCookie(&http.Cookie{Name: auth.CookieName, Value: "tok"})
		}
		ae := a.checkSite(r)
		switch {
		case c.status == 0 && ae != nil:
			t.Errorf("%s: refused: %v", c.name, ae)
		case c.status != 0 && (ae == nil || ae.status != c.status || !strings.Contains(ae.msg, c.msg)):
			t.Errorf("%s: %v, want %d %q", c.name, ae, c.status, c.msg)
		}
	}
}
