package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// apiClient speaks the REST half of PROTOCOL.md.
type apiClient struct {
	http *http.Client
}

func newAPIClient(sd *sourceDialer, maxConns int) *apiClient {
	tr := &http.Transport{
		DialContext:         sd.DialContext,
		MaxIdleConns:        maxConns,
		MaxIdleConnsPerHost: maxConns,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	return &apiClient{http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// apiError is a non-2xx answer, with the protocol's error code when present.
type apiError struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration
}

func (e *apiError) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.Code, e.Message)
}

func isStatus(err error, status int) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.Status == status
}

// apiResult is what one call observed, for latency and cache accounting.
type apiResult struct {
	Status   int
	CacheHit bool
}

// do sends one request and decodes a 2xx JSON answer into out (if non-nil).
func (a *apiClient) do(ctx context.Context, method, url, token string, in, out any) (apiResult, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return apiResult{}, fmt.Errorf("encode %s %s: %w", method, url, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return apiResult{}, fmt.Errorf("build %s %s: %w", method, url, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return apiResult{}, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	res := apiResult{Status: resp.StatusCode, CacheHit: strings.HasPrefix(strings.ToUpper(resp.Header.Get("X-Cache")), "HIT")}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return res, fmt.Errorf("%s %s: read body: %w", method, url, err)
	}
	if resp.StatusCode/100 != 2 {
		ae := &apiError{Status: resp.StatusCode}
		var e struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil {
			ae.Code, ae.Message = e.Error.Code, e.Error.Message
		}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
			ae.RetryAfter = time.Duration(s) * time.Second
		}
		return res, fmt.Errorf("%s %s: %w", method, url, ae)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return res, fmt.Errorf("%s %s: decode: %w", method, url, err)
		}
	}
	return res, nil
}

// withRetry retries calls refused with 429 or 503 (rate limits, a busy
// instance) with backoff, honouring Retry-After. Setup must not fail because
// the server protects itself.
func withRetry(ctx context.Context, attempts int, f func() error) error {
	var err error
	for i := 0; i < attempts; i++ {
		if err = f(); err == nil {
			return nil
		}
		var ae *apiError
		if !errors.As(err, &ae) || (ae.Status != http.StatusTooManyRequests && ae.Status != http.StatusServiceUnavailable) {
			return err
		}
		wait := backoff(i, 200*time.Millisecond, 5*time.Second)
		if ae.RetryAfter > 0 {
			wait = ae.RetryAfter
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	return err
}

type authAnswer struct {
	User struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	} `json:"user"`
	Token string `json:"token"`
}

func (a *apiClient) register(ctx context.Context, base, name, email, password string) (authAnswer, error) {
	var out authAnswer
	_, err := a.do(ctx, http.MethodPost, base+"/api/auth/register", "",
		map[string]string{"name": name, "email": email, "password": password}, &out)
	return out, err
}

func (a *apiClient) login(ctx context.Context, base, email, password string) (authAnswer, error) {
	var out authAnswer
	_, err := a.do(ctx, http.MethodPost, base+"/api/auth/login", "",
		map[string]string{"email": email, "password": password}, &out)
	return out, err
}

func (a *apiClient) me(ctx context.Context, base, token string) (int64, error) {
	var out struct {
		ID int64 `json:"id"`
	}
	_, err := a.do(ctx, http.MethodGet, base+"/api/me", token, nil, &out)
	return out.ID, err
}

type roomInfo struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	LastSeq     int64  `json:"last_seq"`
	MemberCount int64  `json:"member_count"`
}

func (a *apiClient) createRoom(ctx context.Context, base, token, name string) (roomInfo, error) {
	var out roomInfo
	_, err := a.do(ctx, http.MethodPost, base+"/api/rooms", token,
		map[string]any{"name": name, "is_private": false}, &out)
	return out, err
}

func (a *apiClient) room(ctx context.Context, base, token string, id int64) (roomInfo, error) {
	var out roomInfo
	_, err := a.do(ctx, http.MethodGet, fmt.Sprintf("%s/api/rooms/%d", base, id), token, nil, &out)
	return out, err
}

func (a *apiClient) join(ctx context.Context, base, token string, id int64) error {
	_, err := a.do(ctx, http.MethodPost, fmt.Sprintf("%s/api/rooms/%d/join", base, id), token, nil, nil)
	return err
}

// messagesAfter reads history oldest first above after (catch-up).
func (a *apiClient) messagesAfter(ctx context.Context, base, token string, room, after int64, limit int) ([]restMessage, bool, error) {
	var out struct {
		Messages []restMessage `json:"messages"`
		HasMore  bool          `json:"has_more"`
	}
	u := fmt.Sprintf("%s/api/rooms/%d/messages?after=%d&limit=%d", base, room, after, limit)
	_, err := a.do(ctx, http.MethodGet, u, token, nil, &out)
	return out.Messages, out.HasMore, err
}
