package caddymodule_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/chatgate/chatgate/chatclient"
)

// statusOf sends one request and returns its status (0: no answer).
func statusOf(t *testing.T, cl *chatclient.Client, method, path string, in any) int {
	t.Helper()
	resp, err := cl.Do(context.Background(), method, path, in, nil)
	if resp == nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp.StatusCode
}

// waitClosed waits for conn's close code.
func waitClosed(t *testing.T, conn *chatclient.Conn, within time.Duration) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		if _, err := conn.Next(ctx); err != nil {
			return closeCode(err)
		}
	}
}

// TestEndSessions: "sign out everywhere" on one instance ends the user's
// sessions on both at once. Tokens issued before are refused by the API,
// by the response cache (a cached /api/me is not served to them) and by
// the WebSocket handshake, on either instance; the user's open sockets on
// both are closed with 4401; signing in again works. A password change
// checks the current password under the login limits, ends every other
// session and answers with the one token still good.
func TestEndSessions(t *testing.T) {
	c := startEventsCluster(t)
	ctx := context.Background()
	email, password := "session.user@events.example", "password-123"
	first := chatclient.New(c.bases[0])
	if _, err := first.Register(ctx, "Session User", email, password); err != nil {
		t.Fatal(err)
	}
	second := chatclient.New(c.bases[1])
	if _, err := second.Login(ctx, email, password); err != nil {
		t.Fatal(err)
	}
	// first's token also on instance 1, second's on instance 0.
	firstThere := first.WithBaseURL(c.bases[1])
	for _, cl := range []*chatclient.Client{first, second, firstThere} {
		if s := statusOf(t, cl, "GET", "/api/me", nil); s != http.StatusOK {
			t.Fatalf("before: /api/me %d", s)
		}
	}
	if s := statusOf(t, first, "GET", "/api/me", nil); s != http.StatusOK { // now a cache hit
		t.Fatalf("before, cached: /api/me %d", s)
	}
	sockets := []*chatclient.Conn{dialQueue(t, first), dialQueue(t, second), dialQueue(t, firstThere)}

	start := time.Now()
	resp, err := second.Do(ctx, "POST", "/api/auth/sessions/end", map[string]any{}, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("end sessions: %v %+v", err, resp)
	}
	if ck := resp.Header.Get("Set-Cookie"); ck == "" {
		t.Fatal("end sessions left the cookie")
	}
	// Every socket, on both instances, closes with 4401.
	for i, conn := range sockets {
		if code := waitClosed(t, conn, 5*time.Second); code != 4401 {
			t.Fatalf("socket %d: close code %d, want 4401", i, code)
		}
	}
	closedIn := time.Since(start)
	// Every older token, on both instances, through the cache too.
	for i, cl := range []*chatclient.Client{first, second, firstThere} {
		for _, path := range []string{"/api/me", "/api/rooms"} {
			if s := statusOf(t, cl, "GET", path, nil); s != http.StatusUnauthorized {
				t.Fatalf("client %d after the end: %s %d, want 401", i, path, s)
			}
		}
	}
	conn, err := first.Dial(ctx, nil)
	if err != nil {
		t.Fatalf("dial with an ended token: %v (the server upgrades, then closes 4401)", err)
	}
	if code := waitClosed(t, conn, 5*time.Second); code != 4401 {
		t.Fatalf("a new socket with an ended token: close code %d", code)
	}
	t.Logf("sessions ended on two instances: sockets closed within %v", closedIn.Round(time.Millisecond))

	// Signing in again gives a token of the new session.
	again := chatclient.New(c.bases[0])
	if _, err := again.Login(ctx, email, password); err != nil {
		t.Fatal(err)
	}
	if s := statusOf(t, again.WithBaseURL(c.bases[1]), "GET", "/api/me", nil); s != http.StatusOK {
		t.Fatalf("a new login: %d", s)
	}
	other := chatclient.New(c.bases[1])
	if _, err := other.Login(ctx, email, password); err != nil {
		t.Fatal(err)
	}
	otherSocket := dialQueue(t, other)

	// A password change: the current password is checked, the new one
	// bounded, both 4xx without a change.
	for _, bad := range []struct {
		body map[string]string
		want int
	}{
		{map[string]string{"password": "not-the-password", "new_password": "new-password-456"}, http.StatusForbidden},
		{map[string]string{"password": password, "new_password": "short"}, http.StatusBadRequest},
		{map[string]string{"new_password": "new-password-456"}, http.StatusForbidden},
	} {
		if s := statusOf(t, again, "POST", "/api/auth/password", bad.body); s != bad.want {
			t.Fatalf("password change %v: %d, want %d", bad.body, s, bad.want)
		}
	}
	if s := statusOf(t, other, "GET", "/api/me", nil); s != http.StatusOK {
		t.Fatalf("a refused change ended sessions: %d", s)
	}
	var changed struct {
		Token string `json:"token"`
	}
	if _, err := again.Do(ctx, "POST", "/api/auth/password", map[string]string{"password": password, "new_password": "new-password-456"}, &changed); err != nil || changed.Token == "" {
		t.Fatalf("password change: %v %+v", err, changed)
	}
	if code := waitClosed(t, otherSocket, 5*time.Second); code != 4401 {
		t.Fatalf("the other session's socket: close code %d, want 4401", code)
	}
	if s := statusOf(t, other, "GET", "/api/me", nil); s != http.StatusUnauthorized {
		t.Fatalf("the other session after the change: %d, want 401", s)
	}
	if s := statusOf(t, again, "GET", "/api/me", nil); s != http.StatusUnauthorized {
		t.Fatalf("the changing session's old token: %d, want 401", s)
	}
	if s := statusOf(t, again.WithToken(changed.Token).WithBaseURL(c.bases[1]), "GET", "/api/me", nil); s != http.StatusOK {
		t.Fatalf("the token the change answered with: %d", s)
	}
	if _, err := chatclient.New(c.bases[1]).Login(ctx, email, password); err == nil {
		t.Fatal("the old password still signs in")
	}
	if _, err := chatclient.New(c.bases[1]).Login(ctx, email, "new-password-456"); err != nil {
		t.Fatalf("the new password: %v", err)
	}
}
