package main

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gorilla/websocket"

	"github.com/chatgate/chatgate/chatclient"
)

// apiClient is the generator's REST side: one chatclient over a shared
// HTTP client (its source addresses, its connection pool), acting as any
// user against any -url.
type apiClient struct {
	http *http.Client
	cc   *chatclient.Client
}

// newAPIClient: dialer may be nil (setup needs no WebSocket).
func newAPIClient(sd *sourceDialer, maxConns int, dialer *websocket.Dialer) *apiClient {
	tr := &http.Transport{
		DialContext:         sd.DialContext,
		MaxIdleConns:        maxConns,
		MaxIdleConnsPerHost: maxConns,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	opts := []chatclient.Option{chatclient.WithHTTPClient(hc)}
	if dialer != nil {
		opts = append(opts, chatclient.WithDialer(dialer))
	}
	return &apiClient{http: hc, cc: chatclient.New("", opts...)}
}

// as is the client for one user (token, "" for none) on one server.
func (a *apiClient) as(base, token string) *chatclient.Client {
	return a.cc.WithBaseURL(base).WithToken(token)
}

func isStatus(err error, status int) bool { return chatclient.StatusOf(err) == status }

// withRetry retries calls refused with 429 or 503 (rate limits, a busy
// instance) with backoff, honouring Retry-After. Setup must not fail because
// the server protects itself.
func withRetry(ctx context.Context, attempts int, f func() error) error {
	var err error
	for i := 0; i < attempts; i++ {
		if err = f(); err == nil {
			return nil
		}
		var ae *chatclient.Error
		if !errors.As(err, &ae) || (ae.Status != http.StatusTooManyRequests && ae.Status != http.StatusServiceUnavailable) {
			return err
		}
		wait := chatclient.Backoff(i, 200*time.Millisecond, 5*time.Second)
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
