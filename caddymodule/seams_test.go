package caddymodule_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chatgate/chatgate/chatcore/auth"
	"github.com/chatgate/chatgate/internal/testenv"
)

// The seams of "Trust at the seams": what the network hands the server
// (headers, paths, JSON, text) is checked where it comes in, through the
// real server. SECURITY.md's table names these tests.

// send makes one request with exactly the headers given (no bearer token,
// no Content-Type unless listed) and, when cookie is set, the session
// cookie.
func (s *server) send(t testing.TB, method, path string, h map[string]string, cookie, body string) reply {
	t.Helper()
	req, err := http.NewRequest(method, s.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: auth.CookieName, Value: cookie})
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

// wantError checks an error reply's status, code and that its message
// contains msg.
func (r reply) wantError(t testing.TB, what string, status int, code, msg string) {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string }
	}
	if r.status != status || json.Unmarshal(r.body, &e) != nil || e.Error.Code != code || !strings.Contains(e.Error.Message, msg) {
		t.Errorf("%s: %d %s, want %d %s %q", what, r.status, r.body, status, code, msg)
	}
}

// TestCSRF replays each forged-request shape with only the victim's cookie:
// an invite of the attacker into the victim's private room and a message
// posted as the victim. All are 403 and change nothing; the same request
// from the site itself, or with a bearer token from anywhere, works.
func TestCSRF(t *testing.T) {
	s := startServer(t, "origins https://app.example.com")
	victim, attacker := s.register(t, "Victim"), s.register(t, "Mallory")
	priv := victim.createRoom(t, "private plans", true)
	invite := fmt.Sprintf("/api/rooms/%d/members", priv)
	post := fmt.Sprintf("/api/rooms/%d/messages", priv)
	inviteBody := fmt.Sprintf(`{"user_id":%d}`, attacker.id)
	self := s.base // http://127.0.0.1:port
	other := fmt.Sprintf("http://127.0.0.1:%d", s.port+1)
	if s.port == 65535 {
		other = "http://127.0.0.1:1"
	}

	forged := []struct {
		name string
		h    map[string]string
		msg  string
	}{
		{"text/plain, foreign Origin", map[string]string{"Origin": "http://evil.example", "Content-Type": "text/plain"}, "Origin http://evil.example is not this site"},
		{"JSON, foreign Origin", map[string]string{"Origin": "http://evil.example", "Content-Type": "application/json"}, "Origin http://evil.example is not this site"},
		{"form, foreign Origin", map[string]string{"Origin": "http://evil.example", "Content-Type": "application/x-www-form-urlencoded"}, "is not this site"},
		{"Origin null", map[string]string{"Origin": "null", "Content-Type": "text/plain"}, "Origin null is not this site"},
		{"same site, other port", map[string]string{"Origin": other, "Content-Type": "text/plain"}, "Origin " + other + " is not this site"},
		{"other scheme", map[string]string{"Origin": strings.Replace(self, "http:", "https:", 1), "Content-Type": "application/json"}, "is not this site"},
		{"no Origin, foreign Referer", map[string]string{"Referer": "http://evil.example/cat.html", "Content-Type": "text/plain"}, "Referer http://evil.example/cat.html is not this site"},
		{"no Origin, Sec-Fetch-Site cross-site", map[string]string{"Sec-Fetch-Site": "cross-site", "Content-Type": "text/plain"}, "Sec-Fetch-Site is cross-site"},
		{"no Origin, Sec-Fetch-Site same-site", map[string]string{"Sec-Fetch-Site": "same-site", "Content-Type": "application/json"}, "Sec-Fetch-Site is same-site"},
		{"no Origin, no Sec-Fetch-Site", map[string]string{"Content-Type": "application/json"}, "must carry Origin or Sec-Fetch-Site"},
	}
	for i, f := range forged {
		s.send(t, "POST", invite, f.h, victim.token, inviteBody).wantError(t, "invite: "+f.name, 403, "forbidden", f.msg)
		body := fmt.Sprintf(`{"body":"forged %d","cid":"forged-%d"}`, i, i)
		s.send(t, "POST", post, f.h, victim.token, body).wantError(t, "post: "+f.name, 403, "forbidden", f.msg)
	}
	// The same origin, but not JSON: 415 (a second wall, and a form post
	// is never read as JSON).
	s.send(t, "POST", post, map[string]string{"Origin": self, "Content-Type": "text/plain"}, victim.token, `{"body":"x"}`).
		wantError(t, "same origin, text/plain", 415, "bad_request", "Content-Type must be application/json")

	// Nothing forged got through.
	if r := attacker.call(t, "GET", invite, nil); r.status != 403 {
		t.Fatalf("the attacker reads the private room's members: %d %s", r.status, r.body)
	}
	if r := victim.call(t, "GET", post, nil); r.status != 200 || strings.Contains(string(r.body), "forged") {
		t.Fatalf("messages after forgeries: %d %s", r.status, r.body)
	}

	// The site itself, with the cookie: its Origin, or only Sec-Fetch-Site.
	json := "application/json; charset=utf-8"
	if r := s.send(t, "POST", post, map[string]string{"Origin": self, "Content-Type": json}, victim.token, `{"body":"from the site","cid":"site-1"}`); r.status != 201 {
		t.Fatalf("same-origin post: %d %s", r.status, r.body)
	}
	if r := s.send(t, "POST", post, map[string]string{"Sec-Fetch-Site": "same-origin", "Content-Type": json}, victim.token, `{"body":"from the site too","cid":"site-2"}`); r.status != 201 {
		t.Fatalf("same-origin post by Sec-Fetch-Site: %d %s", r.status, r.body)
	}
	// A listed origin (the `origins` option).
	if r := s.send(t, "POST", post, map[string]string{"Origin": "https://app.example.com", "Content-Type": json}, victim.token, `{"body":"from the app","cid":"site-3"}`); r.status != 201 {
		t.Fatalf("listed-origin post: %d %s", r.status, r.body)
	}
	// A bearer token from anywhere: the cookie is not what authenticates.
	bearer := map[string]string{"Origin": "http://evil.example", "Authorization": "Bearer " + victim.token, "Content-Type": "application/json"}
	if r := s.send(t, "POST", post, bearer, victim.token, `{"body":"bot","cid":"bot-1"}`); r.status != 201 {
		t.Fatalf("bearer post: %d %s", r.status, r.body)
	}
	// A bearer write without a body needs no Content-Type.
	other2 := victim.createRoom(t, "public", false)
	if r := s.send(t, "POST", fmt.Sprintf("/api/rooms/%d/join", other2), map[string]string{"Authorization": "Bearer " + attacker.token}, "", ""); r.status != 200 {
		t.Fatalf("bearer join without a body: %d %s", r.status, r.body)
	}
	// Reads are not writes: a GET with a foreign Origin and the cookie is
	// answered (the browser will not show it to the foreign page: no CORS).
	if r := s.send(t, "GET", "/api/me", map[string]string{"Origin": "http://evil.example"}, victim.token, ""); r.status != 200 {
		t.Fatalf("GET with the cookie: %d %s", r.status, r.body)
	}

	// Login CSRF: a foreign page signing the victim's browser into the
	// attacker's account.
	email := fmt.Sprintf("mallory.%d@example.test", time.Now().UnixNano())
	creds := fmt.Sprintf(`{"name":"M","email":%q,"password":"mallory-password"}`, email)
	s.send(t, "POST", "/api/auth/register", map[string]string{"Origin": "http://evil.example", "Content-Type": "text/plain"}, "", creds).
		wantError(t, "register from a foreign page", 403, "forbidden", "is not this site")
	if r := s.send(t, "POST", "/api/auth/register", map[string]string{"Origin": self, "Content-Type": "application/json"}, "", creds); r.status != 201 {
		t.Fatalf("register from the site: %d %s", r.status, r.body)
	}
	for _, h := range []map[string]string{
		{"Origin": "http://evil.example", "Content-Type": "application/json"},
		{"Origin": "null", "Content-Type": "application/json"},
		{"Referer": "http://evil.example/", "Content-Type": "application/json"},
		{"Sec-Fetch-Site": "cross-site", "Content-Type": "application/json"},
	} {
		s.send(t, "POST", "/api/auth/login", h, "", creds).wantError(t, fmt.Sprintf("login from %v", h), 403, "forbidden", "cross-site request refused")
	}
	if r := s.send(t, "POST", "/api/auth/login", map[string]string{"Origin": self, "Content-Type": "application/json"}, "", creds); r.status != 200 {
		t.Fatalf("login from the site: %d %s", r.status, r.body)
	}
	// A client without a browser signs in with neither header nor cookie.
	if r := s.send(t, "POST", "/api/auth/login", map[string]string{"Content-Type": "application/json"}, "", creds); r.status != 200 {
		t.Fatalf("login by a bot: %d %s", r.status, r.body)
	}
	// Logout clears the cookie: not from another site either.
	s.send(t, "POST", "/api/auth/logout", map[string]string{"Origin": "http://evil.example", "Content-Type": "application/json"}, victim.token, "{}").
		wantError(t, "logout from a foreign page", 403, "forbidden", "is not this site")
}

// TestInputNames: NUL, control and bidi characters in user and room names
// and e-mails are a 400 naming the field (never 503), names are stored in
// NFC, and ordinary international names and emoji work.
func TestInputNames(t *testing.T) {
	s := startServer(t, "")
	ann := s.register(t, "Ann")
	n := 0
	register := func(name, email string) reply {
		n++
		if email == "" {
			email = fmt.Sprintf("names.%d.%d@example.test", time.Now().UnixNano(), n)
		}
		return s.call(t, "POST", "/api/auth/register", "", map[string]string{"name": name, "email": email, "password": "password-123"})
	}
	const ctrl = "must not contain control or bidirectional formatting characters"
	register("nul\x00name", "").wantError(t, "NUL in a user name", 400, "bad_request", "name "+ctrl)
	ann.call(t, "POST", "/api/rooms", map[string]any{"name": "nul\x00room"}).wantError(t, "NUL in a room name", 400, "bad_request", "name "+ctrl)
	register("nul email", "a\x00b@example.test").wantError(t, "NUL in a register e-mail", 400, "bad_request", "email "+ctrl)
	s.call(t, "POST", "/api/auth/login", "", map[string]string{"email": "a\x00b@example.test", "password": "password-123"}).
		wantError(t, "NUL in a login e-mail", 400, "bad_request", "email "+ctrl)
	s.call(t, "POST", "/api/auth/login", "", map[string]string{"email": "a@example.test\r\n", "password": "password-123"}).
		wantError(t, "CRLF in a login e-mail", 400, "bad_request", "email "+ctrl)
	for _, c := range []string{"\t", "\n", "\x1b", "\x7f", "\u0085"} {
		register("ctl"+c+"name", "").wantError(t, fmt.Sprintf("%+q in a user name", c), 400, "bad_request", "name "+ctrl)
	}
	for _, r := range []rune{'\u202E', '\u2066', '\u2067', '\u2068', '\u2069', '\u200E', '\u200F', '\u061C', '\u202A', '\u202B', '\u202C', '\u202D'} {
		spoof := "sec" + string(r) + "gnp.exe"
		register(spoof, "").wantError(t, fmt.Sprintf("%U in a user name", r), 400, "bad_request", "name "+ctrl)
		ann.call(t, "POST", "/api/rooms", map[string]any{"name": spoof}).wantError(t, fmt.Sprintf("%U in a room name", r), 400, "bad_request", "name "+ctrl)
	}
	register("zero\u200bwidth", "").wantError(t, "U+200B in a user name", 400, "bad_request", "name must not contain invisible")

	// International names and emoji, stored as NFC.
	for in, want := range map[string]string{
		"José": "José", "Jose\u0301": "José", "שרה כהן": "שרה כהן", "محمد علي": "محمد علي",
		"王小明": "王小明", "Zoë 🎉": "Zoë 🎉", "❤️ Ann": "❤️ Ann", "👩\u200d💻 Dev": "👩\u200d💻 Dev",
	} {
		if name, _ := authUser(t, "register "+in, register(in, ""), 201); name != want {
			t.Errorf("register %+q: stored %+q, want %+q", in, name, want)
		}
		room := ann.createRoom(t, in, false)
		var got struct{ Name string }
		ann.call(t, "GET", fmt.Sprintf("/api/rooms/%d", room), nil).decode(t, &got)
		if got.Name != want {
			t.Errorf("room %+q: stored %+q, want %+q", in, got.Name, want)
		}
	}

	// One account per address, whatever its Unicode form or case.
	email := fmt.Sprintf("jos\u00e9.%d@example.test", time.Now().UnixNano())
	decomposed := strings.Replace(email, "\u00e9", "e\u0301", 1)
	if r := register("José", email); r.status != 201 {
		t.Fatalf("register josé: %d %s", r.status, r.body)
	}
	register("Jose", decomposed).wantError(t, "the decomposed twin", 409, "conflict", "already registered")
	register("Jose", strings.ToUpper(decomposed)).wantError(t, "the upper-case decomposed twin", 409, "conflict", "already registered")
	for _, e := range []string{email, decomposed, strings.ToUpper(email)} {
		r := s.call(t, "POST", "/api/auth/login", "", map[string]string{"email": e, "password": "password-123"})
		if _, got := authUser(t, "login as "+e, r, 200); got != email {
			t.Errorf("login as %+q: account %+q, want %+q", e, got, email)
		}
	}
}

// authUser is the user of a register or login answer, which must have
// status want (else the test fails and both are "").
func authUser(t *testing.T, what string, r reply, want int) (name, email string) {
	t.Helper()
	if r.status != want {
		t.Errorf("%+q: %d %s, want %d", what, r.status, r.body, want)
		return "", ""
	}
	var out struct{ User struct{ Name, Email string } }
	r.decode(t, &out)
	return out.User.Name, out.User.Email
}

// TestLoginThrottleNormalized: the per-account login bucket is keyed by the
// normalized address, so spelling it another way does not buy attempts.
func TestLoginThrottleNormalized(t *testing.T) {
	s := startServer(t, "login_account_rate 1/h 2")
	email := fmt.Sprintf("ren\u00e9.%d@example.test", time.Now().UnixNano())
	if r := s.call(t, "POST", "/api/auth/register", "", map[string]string{"name": "René", "email": email, "password": "password-123"}); r.status != 201 {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	spellings := []string{email, strings.ToUpper(email), strings.Replace(email, "\u00e9", "e\u0301", 1)}
	for i, e := range spellings {
		r := s.call(t, "POST", "/api/auth/login", "", map[string]string{"email": e, "password": "wrong-password"})
		if want := map[bool]int{true: 401, false: 429}[i < 2]; r.status != want {
			t.Errorf("attempt %d as %+q: %d %s, want %d", i+1, e, r.status, r.body, want)
		}
	}
}

// TestDuplicateJSONKeys: a body with a repeated key, at any depth and in
// any case, is a 400 naming the key, and nothing is created.
func TestDuplicateJSONKeys(t *testing.T) {
	s := startServer(t, "")
	ann, bob := s.register(t, "Ann"), s.register(t, "Bob")
	room := ann.createRoom(t, "dups", true)
	before := ann.call(t, "GET", "/api/rooms", nil).body
	for _, c := range []struct{ path, body, key string }{
		{"/api/rooms", `{"name":"x","is_private":true,"is_private":false}`, `"is_private"`},
		{"/api/rooms", `{"name":"x","is_private":true,"IS_PRIVATE":false}`, `"IS_PRIVATE"`},
		{"/api/rooms", `{"name":"x","is_private":true,"is\u005fprivate":false}`, `"is_private"`},
		{"/api/rooms", `{"name":"x","name":"y"}`, `"name"`},
		{"/api/rooms", `{"name":"x","extra":{"a":1,"a":2}}`, `"a"`},
		{fmt.Sprintf("/api/rooms/%d/members", room), fmt.Sprintf(`{"user_id":%d,"user_id":%d}`, ann.id, bob.id), `"user_id"`},
		{fmt.Sprintf("/api/rooms/%d/messages", room), `{"body":"a","cid":"c","body":"b"}`, `"body"`},
		{"/api/auth/login", `{"email":"a@b.c","password":"x","password":"y"}`, `"password"`},
		{"/api/auth/register", `{"name":"a","email":"a@b.c","password":"password-1","email":"b@b.c"}`, `"email"`},
	} {
		s.raw(t, "POST", c.path, ann.token, strings.NewReader(c.body)).
			wantError(t, c.path+" "+c.body, 400, "bad_request", "duplicate key "+c.key)
	}
	if after := ann.call(t, "GET", "/api/rooms", nil).body; string(after) != string(before) {
		t.Errorf("rooms changed: %s -> %s", before, after)
	}
	if r := bob.call(t, "GET", fmt.Sprintf("/api/rooms/%d", room), nil); r.status != 403 {
		t.Errorf("bob was invited by a duplicate key: %d %s", r.status, r.body)
	}
	// The existing decode rules stand: trailing data, invalid UTF-8, size.
	s.raw(t, "POST", "/api/rooms", ann.token, strings.NewReader(`{"name":"x"} {}`)).wantError(t, "trailing data", 400, "bad_request", "trailing data")
	s.raw(t, "POST", "/api/rooms", ann.token, strings.NewReader("{\"name\":\"caf\xe9\"}")).wantError(t, "invalid UTF-8", 400, "bad_request", "UTF-8")
	s.raw(t, "POST", "/api/rooms", ann.token, strings.NewReader(`{"name":"`+strings.Repeat("x", 70<<10)+`"}`)).wantError(t, "oversize", 413, "too_large", "too large")
}

// TestMessageInput: message bodies keep their rules on both paths (NUL
// refused, bidi text allowed: bodies are not identifiers), and so do cids.
func TestMessageInput(t *testing.T) {
	s := startServer(t, "")
	ann := s.register(t, "Ann")
	room := ann.createRoom(t, "bodies", false)
	path := fmt.Sprintf("/api/rooms/%d/messages", room)
	ann.call(t, "POST", path, map[string]string{"body": "a\x00b", "cid": "n1"}).wantError(t, "REST NUL body", 400, "bad_request", "without NUL")
	ann.call(t, "POST", path, map[string]string{"body": "ok", "cid": "c\x00id"}).wantError(t, "REST NUL cid", 400, "bad_request", "cid")
	bidi := "שלום \u202Eworld\u202C and \u2067مرحبا\u2069"
	if r := ann.call(t, "POST", path, map[string]string{"body": bidi, "cid": "b1"}); r.status != 201 || !strings.Contains(string(r.body), "\\u202e") && !strings.Contains(string(r.body), "\u202E") {
		t.Fatalf("bidi body over REST: %d %s", r.status, r.body)
	}
	w := ann.dial(t)
	defer w.close()
	w.subscribe(t, room, nil)
	for _, f := range []string{
		fmt.Sprintf(`{"type":"send","room":%d,"body":"a\u0000b","cid":"w1"}`, room),
		fmt.Sprintf(`{"type":"send","room":%d,"body":"ok","cid":"w\u00002"}`, room),
	} {
		if err := w.conn.WriteFrame([]byte(f)); err != nil {
			t.Fatal(err)
		}
		if e := w.next(t, "error"); e.Code != "bad_request" {
			t.Errorf("%s: %+v", f, e)
		}
	}
	w.send(t, map[string]any{"type": "send", "room": room, "body": bidi, "cid": "w3"})
	if a := w.next(t, "ack"); a.Seq != 2 {
		t.Fatalf("bidi body over the WebSocket: %+v", a)
	}
	if m := w.next(t, "message"); m.Body != bidi {
		t.Fatalf("bidi body came back as %+q", m.Body)
	}
}

// TestAPIPathVariants: every path Caddy's (case-insensitive, slash-merging)
// path matcher sends to the chat handler is answered by it: an unknown one
// is a JSON 404, never an empty 200 or a redirect.
func TestAPIPathVariants(t *testing.T) {
	s := startServer(t, "")
	ann := s.register(t, "Ann")
	checkPathVariants(t, s, ann.token)
	// The real routes are untouched.
	if r := ann.call(t, "GET", "/api/rooms", nil); r.status != 200 {
		t.Fatalf("/api/rooms: %d %s", r.status, r.body)
	}
}

func checkPathVariants(t *testing.T, s *server, token string) {
	t.Helper()
	for _, p := range []string{"/API/rooms", "//api/rooms", "/Api/x", "/api//rooms", "/API", "/api", "/api/", "/api/rooms/",
		"/API/ME", "/Api/Rooms/1/Messages", "///api/me", "/x/../api/rooms", "/api/./rooms", "/WS", "/Healthz", "/READYZ", "/api/nope"} {
		for _, method := range []string{"GET", "POST"} {
			r := s.raw(t, method, p, token, strings.NewReader("{}"))
			if r.status != 404 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
				t.Errorf("%s %s: %d %q %s, want a JSON 404", method, p, r.status, r.header.Get("Content-Type"), r.body)
				continue
			}
			r.wantError(t, method+" "+p, 404, "not_found", "no such endpoint")
		}
	}
}

// TestShippedCaddyfileSeams runs the real binary with the shipped
// Caddyfile: path variants are JSON 404s there too, the client's files and
// the single-page fallback still come from file_server, and the client's
// own kind of request (same origin, cookie, JSON) works.
func TestShippedCaddyfileSeams(t *testing.T) {
	bin := testenv.BuildGateway(t)
	s := newServer(t)
	web := t.TempDir()
	if err := os.MkdirAll(filepath.Join(web, "assets"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"index.html": "<!doctype html><title>chatgate</title>", "assets/app-1.js": "console.log(1)"} {
		if err := os.WriteFile(filepath.Join(web, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "run", "--config", "../Caddyfile")
	cmd.Env = append(os.Environ(),
		fmt.Sprintf("CHATGATE_ADDR=:%d", s.port), fmt.Sprintf("CHATGATE_ADMIN=127.0.0.1:%d", s.admin),
		"CHATGATE_POSTGRES="+testDSN, "CHATGATE_SECRET="+testSecret, "CHATGATE_WEB_ROOT="+web,
		"CHATGATE_DATA_DIR="+t.TempDir(), "CHATGATE_REDIS=", "CHATGATE_AUTH_IP_RATE=off")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitReady(t, s.base)

	ann := s.register(t, "Ann")
	checkPathVariants(t, s, ann.token)
	for p, want := range map[string]string{"/": "<title>chatgate", "/rooms/12": "<title>chatgate", "/assets/app-1.js": "console.log", "/index.html": "<title>chatgate"} {
		if r := s.send(t, "GET", p, nil, "", ""); r.status != 200 || !strings.Contains(string(r.body), want) {
			t.Errorf("static %s: %d %q", p, r.status, r.body)
		}
	}
	room := ann.createRoom(t, "shipped", false)
	h := map[string]string{"Origin": s.base, "Content-Type": "application/json", "Sec-Fetch-Site": "same-origin"}
	if r := s.send(t, "POST", fmt.Sprintf("/api/rooms/%d/messages", room), h, ann.token, `{"body":"hi","cid":"1"}`); r.status != 201 {
		t.Fatalf("same-origin cookie post: %d %s", r.status, r.body)
	}
	h["Origin"] = "http://evil.example"
	s.send(t, "POST", fmt.Sprintf("/api/rooms/%d/messages", room), h, ann.token, `{"body":"hi","cid":"2"}`).
		wantError(t, "forged post", 403, "forbidden", "is not this site")
}
