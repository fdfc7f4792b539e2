package caddymodule_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chatgate/chatgate/chatclient"
)

// httpFrom is an HTTP client whose connections come from a loopback
// address of its own, so per-address limits count it apart.
func httpFrom(ip string) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: netDialerFrom(ip).DialContext}, Timeout: 10 * time.Second}
}

func doFrom(t *testing.T, c *http.Client, method, url, token string, body any) reply {
	t.Helper()
	r, err := replyOf(chatclient.New("", chatclient.WithHTTPClient(c), chatclient.WithToken(token)).Do(context.Background(), method, url, body, nil))
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return r
}

// wantRefused429 is want429 for a refused WebSocket handshake.
func wantRefused429(t *testing.T, what string, err error) {
	t.Helper()
	var e *chatclient.Error
	if !errors.As(err, &e) || e.Status != http.StatusTooManyRequests || e.Code != "rate_limited" || e.Message == "" {
		t.Fatalf("%s: %v, want 429 rate_limited", what, err)
	}
	if e.RetryAfter < time.Second {
		t.Fatalf("%s: Retry-After %v", what, e.RetryAfter)
	}
}

// want429 checks a refusal: 429, the protocol's rate_limited error and a
// Retry-After of at least a second.
func want429(t *testing.T, what string, r reply) {
	t.Helper()
	if r.status != http.StatusTooManyRequests || r.errCode(t) != "rate_limited" {
		t.Fatalf("%s: %d %s, want 429 rate_limited", what, r.status, r.body)
	}
	if n, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || n < 1 {
		t.Fatalf("%s: Retry-After %q", what, r.header.Get("Retry-After"))
	}
}

func TestConnectRatePerAddress(t *testing.T) {
	s := startServer(t, "ip_connect_rate 1/m 5")
	ann := s.register(t, "Ann")
	ctx := context.Background()
	from := s.api(ann.token, chatclient.WithDialer(dialerFrom("127.0.0.40")))
	for i := range 5 {
		c, err := from.Dial(ctx, nil)
		if err != nil {
			t.Fatalf("handshake %d within the burst: %v", i, err)
		}
		c.Drop()
	}
	_, err := from.Dial(ctx, nil)
	if chatclient.StatusOf(err) == 0 {
		t.Fatalf("6th handshake in a second: err %v", err)
	}
	wantRefused429(t, "6th handshake", err)
	// The limit is per address: another one connects.
	c, err := s.api(ann.token, chatclient.WithDialer(dialerFrom("127.0.0.41"))).Dial(ctx, nil)
	if err != nil {
		t.Fatalf("another address: %v", err)
	}
	c.Drop()
}

// TestLoginThrottle: failed logins are counted per (account, address) and
// per account from everywhere, with the ceiling well above one address's
// share, so an attacker guessing from one address locks only that address
// out; the owner signs in from their own meanwhile. Successes count nothing.
func TestLoginThrottle(t *testing.T) {
	s := startServer(t, "login_account_ip_rate 1/m 3\nlogin_account_rate 1/m 12\nauth_ip_rate 1/m 9")
	// Accounts are registered from the test's own address, which the
	// attackers below do not share.
	ann, bob := s.register(t, "Ann"), s.register(t, "Bob")
	email := func(c *client) string {
		var me struct{ Email string }
		c.call(t, "GET", "/api/me", nil).decode(t, &me)
		return me.Email
	}
	annEmail, bobEmail := email(ann), email(bob)
	login := func(ip, email, password string) reply {
		return doFrom(t, httpFrom(ip), "POST", s.base+"/api/auth/login", "", map[string]string{"email": email, "password": password})
	}
	right := "password-" + ann.name

	// One attacker: three wrong guesses, then refused (429) however often
	// it tries, even with the right password; refusals are not charged.
	for i := range 3 {
		if r := login("127.0.0.50", annEmail, fmt.Sprint("guess-", i)); r.status != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d %s", i, r.status, r.body)
		}
	}
	want429(t, "4th failed login for one account from one address (upper-cased)", login("127.0.0.50", strings.ToUpper(annEmail), "guess-3"))
	want429(t, "the right password from the locked-out address", login("127.0.0.50", annEmail, right))
	// The owner, from their own address, is not locked out, and their
	// successes are free.
	for i := range 5 {
		if r := login("127.0.0.49", annEmail, right); r.status != http.StatusOK {
			t.Fatalf("owner's login %d during the attack: %d %s", i, r.status, r.body)
		}
	}
	// Bob's account is not affected by Ann's attacker.
	if r := login("127.0.0.50", bobEmail, "wrong password"); r.status != http.StatusUnauthorized {
		t.Fatalf("another account: %d %s", r.status, r.body)
	}
	// Spread over many addresses the account's ceiling (12) holds: 3 from
	// .50 above, 9 more from three addresses, then even the owner waits.
	for _, ip := range []string{"127.0.0.55", "127.0.0.56", "127.0.0.57"} {
		for i := range 3 {
			if r := login(ip, annEmail, fmt.Sprint("spread-", i)); r.status != http.StatusUnauthorized {
				t.Fatalf("guess %d from %s: %d %s", i, ip, r.status, r.body)
			}
		}
	}
	want429(t, "a login past the account's ceiling", login("127.0.0.49", annEmail, right))

	// One address trying many accounts (or registering many) is throttled
	// by auth_ip_rate (9), which counts every attempt: six from .50 above
	// (the two refused included), three more pass, the 10th is refused.
	spray := httpFrom("127.0.0.50")
	for i := range 3 {
		r := doFrom(t, spray, "POST", s.base+"/api/auth/login", "", map[string]string{"email": fmt.Sprintf("nobody%d@example.com", i), "password": "password1"})
		if r.status != http.StatusUnauthorized {
			t.Fatalf("spray %d: %d %s", i, r.status, r.body)
		}
	}
	want429(t, "10th auth attempt from one address", doFrom(t, spray, "POST", s.base+"/api/auth/register", "",
		map[string]string{"name": "Spam", "email": "spam@example.com", "password": "password1"}))
	// An address longer than any real one is refused before it becomes a
	// limiter key.
	long := strings.Repeat("a", 300) + "@example.com"
	if r := doFrom(t, httpFrom("127.0.0.54"), "POST", s.base+"/api/auth/login", "", map[string]string{"email": long, "password": "password1"}); r.status != http.StatusUnauthorized {
		t.Fatalf("login with a 312-byte address: %d %s", r.status, r.body)
	}
}

func TestRESTRateLimits(t *testing.T) {
	s := startServer(t, "user_request_rate 1/m 5\nip_request_rate 1/m 20")
	ann, bob := s.register(t, "Ann"), s.register(t, "Bob")
	// Per user, whatever the address.
	for i := range 5 {
		if r := doFrom(t, httpFrom(fmt.Sprintf("127.0.0.%d", 60+i)), "GET", s.base+"/api/me", ann.token, nil); r.status != 200 {
			t.Fatalf("request %d: %d %s", i, r.status, r.body)
		}
	}
	want429(t, "6th request of a user", doFrom(t, httpFrom("127.0.0.66"), "GET", s.base+"/api/rooms", ann.token, nil))
	if r := bob.call(t, "GET", "/api/me", nil); r.status != 200 {
		t.Fatalf("another user: %d", r.status)
	}
	// Per address, whoever asks, signed in or not.
	c := httpFrom("127.0.0.70")
	for i := range 20 {
		if r := doFrom(t, c, "GET", s.base+"/api/nothing-here", "", nil); r.status != http.StatusNotFound {
			t.Fatalf("request %d: %d", i, r.status)
		}
	}
	want429(t, "21st request from an address", doFrom(t, c, "GET", s.base+"/api/me", bob.token, nil))
}

func TestTokenKeyRotation(t *testing.T) {
	s := startServer(t, "")
	ann := s.register(t, "Ann")
	oldToken := ann.token

	// Rotate: a new current key, the old one kept as previous. Old tokens
	// still work on REST and WebSocket; new ones are signed with the new key.
	s2 := startServerWithKeys(t, "rotated-secret-0123456789abcdef", testSecret)
	ann.s = s2
	if r := ann.call(t, "GET", "/api/me", nil); r.status != 200 {
		t.Fatalf("old token during rotation: %d %s", r.status, r.body)
	}
	w := ann.dial(t)
	w.send(t, map[string]any{"type": "ping"})
	w.next(t, "pong")
	w.close()
	var login struct{ Token string }
	var me struct{ Email string }
	ann.call(t, "GET", "/api/me", nil).decode(t, &me)
	s2.call(t, "POST", "/api/auth/login", "", map[string]string{"email": me.Email, "password": "password-" + ann.name}).decode(t, &login)
	if login.Token == "" || strings.SplitN(login.Token, ".", 2)[0] == strings.SplitN(oldToken, ".", 2)[0] {
		t.Fatalf("new token %q carries the old key id of %q", login.Token, oldToken)
	}

	// Rotation done: the previous key is dropped, its tokens expire.
	s3 := startServerWithKeys(t, "rotated-secret-0123456789abcdef", "")
	if r := s3.call(t, "GET", "/api/me", oldToken, nil); r.status != http.StatusUnauthorized {
		t.Fatalf("old token after rotation: %d %s", r.status, r.body)
	}
	if r := s3.call(t, "GET", "/api/me", login.Token, nil); r.status != 200 {
		t.Fatalf("new token after rotation: %d %s", r.status, r.body)
	}
	c, err := s3.api(oldToken).Dial(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Drop()
	if _, err := c.Next(context.Background()); closeCode(err) != 4401 {
		t.Fatalf("old token on WebSocket after rotation: %v", err)
	}
}

// startServerWithKeys is startServer signing with secret and also
// accepting previous (when not empty).
func startServerWithKeys(t *testing.T, secret, previous string) *server {
	t.Helper()
	keys := "\tsecret " + secret + "\n"
	if previous != "" {
		keys += "\t\tprevious_secrets " + previous + "\n"
	}
	return startServerEdited(t, "", "\tsecret "+testSecret+"\n", keys)
}

func TestCookieFlags(t *testing.T) {
	s := startServer(t, "")
	ann := s.register(t, "Ann")
	var me struct{ Email string }
	ann.call(t, "GET", "/api/me", nil).decode(t, &me)
	login := func(proto string) *http.Cookie {
		h := http.Header{}
		if proto != "" {
			h.Set("X-Forwarded-Proto", proto)
		}
		r, err := s.api("", chatclient.WithHeader(h)).Do(context.Background(), "POST", "/api/auth/login",
			map[string]string{"email": me.Email, "password": "password-" + ann.name}, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp := &http.Response{Header: r.Header}
		for _, c := range resp.Cookies() {
			if c.Name == "chatgate_token" {
				return c
			}
		}
		t.Fatalf("no cookie in %v", resp.Header)
		return nil
	}
	plain, tls := login(""), login("https")
	for name, c := range map[string]*http.Cookie{"plain": plain, "behind TLS": tls} {
		if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" {
			t.Errorf("%s: cookie %+v, want HttpOnly, SameSite=Lax, Path=/", name, c)
		}
	}
	if plain.Secure || !tls.Secure {
		t.Errorf("Secure: plain %v (want false), behind TLS %v (want true)", plain.Secure, tls.Secure)
	}
}

// TestPrivateRoomEphemeral: typing and presence, the paths without
// messages, are closed to non-members too; replay is covered by subscribe
// (TestWebSocketBadInput) and history by TestRooms and the cache tests.
func TestPrivateRoomEphemeral(t *testing.T) {
	s := startServer(t, "")
	ann, eve := s.register(t, "Ann"), s.register(t, "Eve")
	priv := ann.createRoom(t, "private", true)
	wa := ann.dial(t)
	defer wa.close()
	wa.subscribe(t, priv, nil)

	we := eve.dial(t)
	defer we.close()
	we.send(t, map[string]any{"type": "typing", "room": priv})
	if e := we.next(t, "error"); e.Code != "forbidden" || e.Room != priv {
		t.Fatalf("outsider typing: %+v", e)
	}
	we.send(t, map[string]any{"type": "subscribe", "room": priv, "since": 0})
	if e := we.next(t, "error"); e.Code != "forbidden" {
		t.Fatalf("outsider replay: %+v", e)
	}
	if r := eve.call(t, "GET", fmt.Sprintf("/api/rooms/%d/presence", priv), nil); r.status != 403 || r.errCode(t) != "forbidden" {
		t.Fatalf("outsider presence: %d %s", r.status, r.body)
	}
	// Ann saw no typing from Eve: her next event is her own pong.
	wa.send(t, map[string]any{"type": "ping"})
	if e := wa.next(t, "pong", "typing"); e.Type != "pong" {
		t.Fatalf("member got %+v from an outsider", e)
	}
}
