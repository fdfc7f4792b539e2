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

// Token errors. Both map to 401 / close 4401.
var (
	ErrInvalidToken = errors.New("auth: invalid token")
	ErrExpiredToken = errors.New("auth: token expired")
)

// Claims is what a token carries. The name rides along so a send needs no
// user lookup to fill in the message's author.
type Claims struct {
	UserID  int64  `json:"uid"`
	Name    string `json:"name"`
	Expires int64  `json:"exp"` // unix seconds
}

// Signer issues and verifies HMAC-SHA256 tokens of the form
// base64url(claims JSON) "." base64url(mac). It is safe for concurrent use.
type Signer struct {
	key []byte
	ttl time.Duration
	now func() time.Time
}

// NewSigner returns a Signer; key must be at least 16 bytes.
func NewSigner(key []byte, ttl time.Duration) (*Signer, error) {
	if len(key) < 16 {
		return nil, fmt.Errorf("auth: signing key must be at least 16 bytes, got %d", len(key))
	}
	if ttl <= 0 {
		ttl = 24 * time.Hour
	}
	return &Signer{key: append([]byte(nil), key...), ttl: ttl, now: time.Now}, nil
}

// TTL is how long issued tokens live.
func (s *Signer) TTL() time.Duration { return s.ttl }

// Issue signs a token for the user.
func (s *Signer) Issue(userID int64, name string) (string, time.Time) {
	exp := s.now().Add(s.ttl)
	return s.IssueUntil(userID, name, exp), exp
}

// IssueUntil signs a token that expires at exp.
func (s *Signer) IssueUntil(userID int64, name string, exp time.Time) string {
	payload, _ := json.Marshal(Claims{UserID: userID, Name: name, Expires: exp.Unix()})
	enc := base64.RawURLEncoding
	body := enc.EncodeToString(payload)
	return body + "." + enc.EncodeToString(s.mac(body))
}

// Verify checks the signature and expiry and returns the claims.
func (s *Signer) Verify(token string) (Claims, error) {
	body, sig, ok := strings.Cut(token, ".")
	if !ok || body == "" || sig == "" {
		return Claims{}, ErrInvalidToken
	}
	// Compare the encoded form: decoding first would accept other spellings
	// of the same signature (base64's spare bits, skipped newlines).
	enc := base64.RawURLEncoding
	if !hmac.Equal([]byte(sig), []byte(enc.EncodeToString(s.mac(body)))) {
		return Claims{}, ErrInvalidToken
	}
	payload, err := enc.DecodeString(body)
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

func (s *Signer) mac(body string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(body))
	return m.Sum(nil)
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
