// Package auth holds password hashing and the stateless signed tokens every
// instance verifies without a lookup.
package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// CookieName is the HttpOnly cookie browsers get on login.
const CookieName = "chatgate_token"

// Token errors. All map to 401 / close 4401.
var (
	ErrInvalidToken = errors.New("auth: invalid token")
	ErrExpiredToken = errors.New("auth: token expired")
	// ErrEndedToken is a well-signed, unexpired token of a session the
	// user has ended (sign out everywhere, a password change): its Gen is
	// below the user's. Signer.Verify cannot tell; the gateway checks.
	ErrEndedToken = errors.New("auth: session ended")
)

// Claims is what a token carries. The name rides along so a send needs no
// user lookup to fill in the message's author.
type Claims struct {
	UserID  int64  `json:"uid"`
	Name    string `json:"name"`
	Expires int64  `json:"exp"` // unix seconds
	// Gen is the user's session generation when the token was issued
	// (users.token_gen): ending the user's sessions moves it on.
	Gen int64 `json:"gen,omitempty"`
}

// Signer issues and verifies HMAC-SHA256 tokens of the form
// kid "." base64url(claims JSON) "." base64url(mac), where kid names the
// key that signed it. Tokens are issued with the current key and verified
// with any configured one, so a key rotates without logging anyone out:
// add the new key as current, keep the old as previous for one token TTL,
// then drop it. It is safe for concurrent use.
type Signer struct {
	kid  string            // the current key's id
	keys map[string][]byte // by id: the current key and the previous ones
	ttl  time.Duration
	now  func() time.Time
}

// NewSigner returns a Signer issuing with key and also accepting tokens
// signed with the previous keys; every key must be at least 16 bytes.
func NewSigner(key []byte, ttl time.Duration, previous ...[]byte) (*Signer, error) {
	if ttl <= 0 {
		ttl = 24 * time.Hour
	}
	s := &Signer{keys: make(map[string][]byte, 1+len(previous)), ttl: ttl, now: time.Now}
	for i, k := range append([][]byte{key}, previous...) {
		if len(k) < 16 {
			return nil, fmt.Errorf("auth: signing key must be at least 16 bytes, got %d", len(k))
		}
		id := KeyID(k)
		if i == 0 {
			s.kid = id
		}
		if _, dup := s.keys[id]; !dup {
			s.keys[id] = append([]byte(nil), k...)
		}
	}
	return s, nil
}

// KeyID names a key in the tokens it signs without revealing it: the first
// 48 bits of its SHA-256, base64url.
func KeyID(key []byte) string {
	sum := sha256.Sum256(key)
	return base64.RawURLEncoding.EncodeToString(sum[:6])
}

// TTL is how long issued tokens live.
func (s *Signer) TTL() time.Duration { return s.ttl }

// Issue signs a token for the user, of session generation 0.
func (s *Signer) Issue(userID int64, name string) (string, time.Time) {
	return s.IssueGen(userID, name, 0)
}

// IssueGen signs a token for the user under session generation gen.
func (s *Signer) IssueGen(userID int64, name string, gen int64) (string, time.Time) {
	exp := s.now().Add(s.ttl)
	return s.sign(Claims{UserID: userID, Name: name, Expires: exp.Unix(), Gen: gen}), exp
}

// IssueUntil signs a token that expires at exp.
func (s *Signer) IssueUntil(userID int64, name string, exp time.Time) string {
	return s.sign(Claims{UserID: userID, Name: name, Expires: exp.Unix()})
}

func (s *Signer) sign(c Claims) string {
	payload, _ := json.Marshal(c)
	signed := s.kid + "." + base64.RawURLEncoding.EncodeToString(payload)
	return signed + "." + macString(s.keys[s.kid], signed)
}

// Verify checks the signature and expiry and returns the claims. A token
// without a key id (issued before key ids existed) is checked against the
// current key.
func (s *Signer) Verify(token string) (Claims, error) {
	if len(token) > maxTokenLen {
		return Claims{}, ErrInvalidToken
	}
	signed, sig, ok := cutLast(token)
	if !ok || signed == "" || sig == "" {
		return Claims{}, ErrInvalidToken
	}
	kid, body, hasKid := strings.Cut(signed, ".")
	if !hasKid {
		kid, body = s.kid, signed
	}
	key, ok := s.keys[kid]
	if !ok || body == "" {
		return Claims{}, ErrInvalidToken
	}
	// Compare the encoded form: decoding first would accept other spellings
	// of the same signature (base64's spare bits, skipped newlines).
	if !hmac.Equal([]byte(sig), []byte(macString(key, signed))) {
		return Claims{}, ErrInvalidToken
	}
	payload, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return Claims{}, ErrInvalidToken
	}
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil || c.UserID <= 0 {
		return Claims{}, ErrInvalidToken
	}
	if s.now().Unix() >= c.Expires {
		return Claims{}, ErrExpiredToken
	}
	return c, nil
}

// maxTokenLen bounds what Verify hashes: a real token is ~150 bytes.
const maxTokenLen = 4096

func cutLast(s string) (before, after string, ok bool) {
	i := strings.LastIndexByte(s, '.')
	if i < 0 {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

func macString(key []byte, signed string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(signed))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// FromRequest extracts a token from the Authorization bearer header, the
// cookie, or, when allowQuery is set (WebSocket upgrades, where browsers
// cannot set headers), the token query parameter.
func FromRequest(r *http.Request, allowQuery bool) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if t, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(t)
		}
	}
	if allowQuery {
		if t := r.URL.Query().Get("token"); t != "" {
			return t
		}
	}
	if c, err := r.Cookie(CookieName); err == nil {
		return c.Value
	}
	return ""
}
