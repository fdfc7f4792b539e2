package auth

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestPasswordRoundTrip(t *testing.T) {
	p := PasswordParams{MemoryKiB: 1024, Time: 1, Threads: 1}
	h, err := HashPassword("correct horse", p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=1024,t=1,p=1$") {
		t.Fatalf("unexpected hash format %q", h)
	}
	for pw, want := range map[string]bool{"correct horse": true, "correct horsE": false, "": false} {
		ok, err := CheckPassword(h, pw)
		if err != nil || ok != want {
			t.Errorf("CheckPassword(%q) = %v, %v; want %v", pw, ok, err, want)
		}
	}
	h2, _ := HashPassword("correct horse", p)
	if h == h2 {
		t.Error("two hashes of one password share a salt")
	}
	for _, bad := range []string{"", "$bcrypt$x", "$argon2id$v=19$m=x$a$b", "$argon2id$v=19$m=1,t=1,p=1$!!$!!"} {
		if _, err := CheckPassword(bad, "x"); !errors.Is(err, ErrBadHash) {
			t.Errorf("CheckPassword(%q) err = %v, want ErrBadHash", bad, err)
		}
	}
}

func TestTokens(t *testing.T) {
	s, err := NewSigner([]byte("0123456789abcdef0123"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tok, exp := s.Issue(42, "ann")
	if time.Until(exp) < 59*time.Minute {
		t.Fatalf("expiry %v too soon", exp)
	}
	c, err := s.Verify(tok)
	if err != nil || c.UserID != 42 || c.Name != "ann" {
		t.Fatalf("Verify = %+v, %v", c, err)
	}
	if c.Gen != 0 {
		t.Fatalf("Issue's session generation %d, want 0", c.Gen)
	}
	genTok, _ := s.IssueGen(42, "ann", 7)
	if c, err := s.Verify(genTok); err != nil || c.Gen != 7 || c.UserID != 42 {
		t.Fatalf("IssueGen's claims %+v, %v", c, err)
	}

	other, _ := NewSigner([]byte("another key of 16+ bytes"), time.Hour)
	body, sig, _ := strings.Cut(tok, ".")
	tampered := body[:len(body)-2] + "xx." + sig
	for name, bad := range map[string]string{
		"empty": "", "no dot": "abc", "garbage": "a.b", "tampered": tampered,
		"other key": func() string { t, _ := other.Issue(42, "ann"); return t }(),
	} {
		if _, err := s.Verify(bad); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: err = %v, want ErrInvalidToken", name, err)
		}
	}

	s.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if _, err := s.Verify(tok); !errors.Is(err, ErrExpiredToken) {
		t.Errorf("expired: err = %v", err)
	}
	if _, err := NewSigner([]byte("short"), time.Hour); err == nil {
		t.Error("short key accepted")
	}
}

func TestFromRequest(t *testing.T) {
	r := httptest.NewRequest("GET", "/ws?token=q", nil)
	if got := FromRequest(r, true); got != "q" {
		t.Errorf("query: %q", got)
	}
	if got := FromRequest(r, false); got != "" {
		t.Errorf("query must be ignored outside /ws: %q", got)
	}
	r.Header.Set("Cookie", CookieName+"=c")
	if got := FromRequest(r, false); got != "c" {
		t.Errorf("cookie: %q", got)
	}
	r.Header.Set("Authorization", "Bearer h")
	if got := FromRequest(r, true); got != "h" {
		t.Errorf("bearer wins: %q", got)
	}
}

func TestKeyRotation(t *testing.T) {
	oldKey, newKey := []byte("old-key-0123456789abcdef"), []byte("new-key-0123456789abcdef")
	before, _ := NewSigner(oldKey, time.Hour)
	during, _ := NewSigner(newKey, time.Hour, oldKey)
	after, _ := NewSigner(newKey, time.Hour)

	oldTok, _ := before.Issue(7, "Ann")
	newTok, _ := during.Issue(8, "Bob")
	if !strings.HasPrefix(oldTok, KeyID(oldKey)+".") || !strings.HasPrefix(newTok, KeyID(newKey)+".") {
		t.Fatalf("tokens do not start with their key id: %q %q", oldTok, newTok)
	}
	// During the rotation both verify; the old key no longer signs.
	for tok, want := range map[string]int64{oldTok: 7, newTok: 8} {
		if c, err := during.Verify(tok); err != nil || c.UserID != want {
			t.Errorf("during rotation: %v %v, want user %d", c, err, want)
		}
	}
	// After it, the old key's tokens are refused, and an instance that has
	// not heard of the new key refuses its tokens.
	if _, err := after.Verify(oldTok); err != ErrInvalidToken {
		t.Errorf("old token after rotation: %v", err)
	}
	if _, err := before.Verify(newTok); err != ErrInvalidToken {
		t.Errorf("new token on an old instance: %v", err)
	}
	// A token from before key ids is checked against the current key.
	body := oldTok[strings.IndexByte(oldTok, '.')+1 : strings.LastIndexByte(oldTok, '.')]
	legacy := body + "." + macString(oldKey, body)
	if c, err := before.Verify(legacy); err != nil || c.UserID != 7 {
		t.Errorf("legacy token: %v %v", c, err)
	}
	if _, err := during.Verify(legacy); err != ErrInvalidToken {
		t.Errorf("legacy token under a new current key: %v", err)
	}
	// Relabelling a token with another known key id breaks it.
	swapped := KeyID(newKey) + oldTok[strings.IndexByte(oldTok, '.'):]
	if _, err := during.Verify(swapped); err != ErrInvalidToken {
		t.Errorf("token with a swapped key id: %v", err)
	}
	if _, err := NewSigner(newKey, time.Hour, []byte("short")); err == nil {
		t.Error("a short previous key was accepted")
	}
}
