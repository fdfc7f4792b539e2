package gateway

import (
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/chatgate/chatgate/chatcore/auth"
	"github.com/chatgate/chatgate/chatcore/wire"
)

// Cross-site request forgery. A browser attaches the session cookie to a
// request another site makes it send: a form POST or a "simple" fetch
// (text/plain, no preflight) that invites the attacker into a private room
// or posts as the victim. SameSite=Lax stops cross-site ones, not same-site
// ones (another port of the same host, a sibling subdomain). So a
// state-changing request is refused unless it provably comes from this site
// or carries no cookie:
//
//   - Authorization: Bearer: not checked. A page cannot make a browser send
//     a header of its choosing to another origin without a CORS preflight,
//     which this API never approves; bots and the load generator use it.
//   - Origin present: it must be this request's own origin (scheme from TLS
//     or X-Forwarded-Proto, host and port from Host) or one listed in the
//     `origins` option. "null" (sandboxed frames, data: URLs, some
//     redirects) never is.
//   - no Origin, Sec-Fetch-Site present: only "same-origin". "same-site" is
//     the other-port case; "cross-site" is plain forgery; "none" (the user
//     typed or bookmarked the URL) has no legitimate use for a write here,
//     the client only writes with fetch(), which says "same-origin".
//   - neither: a foreign Referer is refused; otherwise a request with the
//     session cookie is refused too (a browser old enough to send neither
//     header cannot be told from forgery; non-browser clients use bearer
//     tokens), and one without it (a bot registering or signing in) passes.
//
// Register, login and logout set or clear the cookie, so they get the same
// check even without a cookie: a foreign Origin cannot sign a victim into the
// attacker's account (login CSRF).
//
// And a state-changing request must be Content-Type: application/json
// (parameters allowed) when it has a body or the session cookie: a
// cross-site page can only send form and text/plain bodies without a
// preflight, so this is a second wall behind the Origin check, and the
// decoder reads nothing else anyway.
//
// X-Forwarded-Proto is believed from anyone: a forging page cannot set it on
// the victim's request (no preflight), and a client forging it on its own
// request gains nothing, it has no one else's cookie.

// safeMethod: requests that change nothing, never checked.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// checkSite applies the rules above to a request; nil when it may proceed.
func (a *API) checkSite(r *http.Request) *apiError {
	if safeMethod(r.Method) {
		return nil
	}
	cookie, ae := a.checkSender(r)
	if ae != nil {
		return ae
	}
	if cookie || r.ContentLength != 0 {
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/json" {
			return errf(http.StatusUnsupportedMediaType, wire.CodeBadRequest,
				"Content-Type must be application/json for a request with a body or the session cookie")
		}
	}
	return nil
}

// checkUploadSite is checkSite for an upload, whose body is the file
// itself: the same origin rules, and a Content-Type a cross-site page
// cannot send without a preflight (anything but form, multipart and
// text/plain; the client sends application/octet-stream or the file's own
// type, which is ignored: the type comes from the bytes).
func (a *API) checkUploadSite(r *http.Request) *apiError {
	if _, ae := a.checkSender(r); ae != nil {
		return ae
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt == "application/x-www-form-urlencoded" || mt == "multipart/form-data" || mt == "text/plain" {
		return errf(http.StatusUnsupportedMediaType, wire.CodeBadRequest,
			"an upload's Content-Type must be application/octet-stream (or the file's type), not a form or text/plain")
	}
	return nil
}

// checkSender is the origin part of checkSite for a write: requests with a
// bearer token pass, others must come from this site. cookie says whether
// the request carries the session cookie (and no bearer token).
func (a *API) checkSender(r *http.Request) (cookie bool, ae *apiError) {
	// The same precedence as auth.FromRequest: a Bearer header, even an
	// empty one, means the cookie is not read.
	_, bearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	_, err := r.Cookie(auth.CookieName)
	cookie = !bearer && err == nil
	if !bearer {
		ae = a.checkOrigin(r, cookie)
	}
	return cookie, ae
}

// checkOrigin is the origin part of checkSite, for a request not carrying a
// bearer token; cookie says whether it carries the session cookie.
func (a *API) checkOrigin(r *http.Request, cookie bool) *apiError {
	if origin := r.Header.Get("Origin"); origin != "" {
		if !a.sameSite(r, origin) {
			return errCrossSite("Origin " + shorten(origin) + " is not this site")
		}
		return nil
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		if site != "same-origin" {
			return errCrossSite("Sec-Fetch-Site is " + shorten(site))
		}
		return nil
	}
	if ref := r.Header.Get("Referer"); ref != "" {
		u, err := url.Parse(ref)
		if err != nil || !a.sameSite(r, u.Scheme+"://"+u.Host) {
			return errCrossSite("no Origin, and Referer " + shorten(ref) + " is not this site")
		}
	}
	if cookie {
		return errCrossSite("a request with the session cookie must carry Origin or Sec-Fetch-Site (clients without a browser: use Authorization: Bearer)")
	}
	return nil
}

func errCrossSite(why string) *apiError {
	return errf(http.StatusForbidden, wire.CodeForbidden, "cross-site request refused: "+why)
}

// sameSite reports whether origin (scheme://host[:port]) is the request's
// own origin or one of the configured ones.
func (a *API) sameSite(r *http.Request, origin string) bool {
	o, ok := normOrigin(origin)
	if !ok {
		return false
	}
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(firstValue(r.Header.Get("X-Forwarded-Proto")), "https") {
		scheme = "https"
	}
	if self, ok := normOrigin(scheme + "://" + r.Host); ok && o == self {
		return true
	}
	return a.origins[o]
}

// normOrigin is origin as scheme://host[:port], lowercased, with the
// scheme's default port dropped; ok is false for anything else ("null", a
// path, no host).
func normOrigin(origin string) (string, bool) {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || u.User != nil || u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" {
		return "", false
	}
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	if h, port, err := net.SplitHostPort(host); err == nil &&
		(scheme == "http" && port == "80" || scheme == "https" && port == "443") {
		host = h
		if strings.Contains(h, ":") {
			host = "[" + h + "]" // IPv6
		}
	}
	return scheme + "://" + host, scheme == "http" || scheme == "https"
}

// originSet normalizes the configured origins; "*" (any origin, which the
// WebSocket check honours) is left out on purpose: for cookie-authenticated
// writes it would switch CSRF protection off.
func originSet(origins []string) map[string]bool {
	set := make(map[string]bool, len(origins))
	for _, o := range origins {
		if n, ok := normOrigin(o); ok {
			set[n] = true
		}
	}
	return set
}

func firstValue(h string) string {
	v, _, _ := strings.Cut(h, ",")
	return strings.TrimSpace(v)
}
