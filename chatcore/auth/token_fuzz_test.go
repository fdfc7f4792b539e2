package auth

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// These use only the public API (NewSigner, Issue, IssueUntil, Verify), so
// they hold whatever the token's inner layout becomes.

var (
	fuzzKey   = []byte("fuzz-signing-key-0123456789abcdef")
	fuzzOther = []byte("another-key-of-the-same-length!!!")
)

func fuzzSigners(t *testing.T) (*Signer, *Signer) {
	s, err := NewSigner(fuzzKey, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	o, err := NewSigner(fuzzOther, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return s, o
}

// FuzzVerify feeds arbitrary strings to Verify: it must never panic, and
// what it accepts must be a live token for a real user that only this key
// could have signed.
func FuzzVerify(f *testing.F) {
	s, _ := NewSigner(fuzzKey, time.Hour)
	far := time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, seed := range []string{
		"", ".", "a.", ".b", "a.b", "..", "a.b.c",
		s.IssueUntil(1, "Ann", far),
		s.IssueUntil(2, "Bob", time.Unix(1, 0)),
		s.IssueUntil(0, "nobody", far),
		s.IssueUntil(-5, "negative", far),
		s.IssueUntil(1<<62, strings.Repeat("n", 300), far),
		"eyJ1aWQiOjEsIm5hbWUiOiJBbm4iLCJleHAiOjcyNTgxMTg0MDB9.AAAA",
		"eyJ1aWQiOjF9.\n\n",
		"e30.e30",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		s, other := fuzzSigners(t)
		c, err := s.Verify(tok)
		if err != nil {
			return
		}
		if c.UserID <= 0 || c.Expires <= time.Now().Unix() {
			t.Fatalf("accepted %q with claims %+v", tok, c)
		}
		if _, err := other.Verify(tok); err == nil {
			t.Fatalf("%q verifies under two different keys", tok)
		}
	})
}

// tokenBytes are the bytes a token is made of, and some a decoder may skip.
const tokenBytes = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \r\n"

// FuzzTokenRoundTrip issues a token for arbitrary claims and checks that
// Verify gives them back exactly, and that changing any one byte of the
// token, or cutting it short, makes Verify refuse it.
func FuzzTokenRoundTrip(f *testing.F) {
	f.Add(int64(1), "Ann", uint(0), byte('x'))
	f.Add(int64(1), "Ann", uint(1), byte('x'))
	f.Add(int64(42), "Bob Smith", uint(1000), byte('.'))
	f.Add(int64(1<<62), "", uint(7), byte(0))
	f.Add(int64(0), "zero", uint(3), byte('A'))
	f.Add(int64(-1), "negative", uint(3), byte('A'))
	f.Add(int64(9), "caf\xe9 \u2603 \"quoted\" <tag>", uint(75), byte('B'))
	f.Fuzz(func(t *testing.T, uid int64, name string, pos uint, b byte) {
		// Registration caps names at 64 characters, so 256 bytes is beyond
		// any real one; far longer ones may make tokens over Verify's length
		// limit.
		if len(name) > 256 {
			name = name[:256]
		}
		s, other := fuzzSigners(t)
		tok, exp := s.Issue(uid, name)
		c, err := s.Verify(tok)
		if uid <= 0 {
			if err == nil {
				t.Fatalf("token for user %d accepted", uid)
			}
			return
		}
		// Names travel as JSON, which carries only valid UTF-8.
		var want string
		raw, _ := json.Marshal(name)
		_ = json.Unmarshal(raw, &want)
		if err != nil || c.UserID != uid || c.Name != want || c.Expires != exp.Unix() {
			t.Fatalf("Issue(%d, %q) verified as %+v, %v", uid, name, c, err)
		}
		if _, err := other.Verify(tok); err == nil {
			t.Fatal("token verifies under another key")
		}
		// An expired token is refused.
		if _, err := s.Verify(s.IssueUntil(uid, name, time.Now().Add(-time.Second))); err == nil {
			t.Fatal("expired token accepted")
		}
		// pos counts from the end, so a small pos reaches the signature's
		// last characters, where base64 keeps its spare bits.
		i := len(tok) - 1 - int(pos%uint(len(tok)))
		for _, nb := range append([]byte(tokenBytes), b) {
			if nb == tok[i] {
				continue
			}
			bad := tok[:i] + string([]byte{nb}) + tok[i+1:]
			if _, err := s.Verify(bad); err == nil {
				t.Fatalf("token with byte %d changed from %q to %q accepted:\n%s\n%s", i, tok[i], nb, tok, bad)
			}
		}
		if _, err := s.Verify(tok[:i]); err == nil {
			t.Fatalf("token cut to %d bytes accepted", i)
		}
	})
}
