// Package freeport hands tests TCP ports to listen on.
package freeport

import (
	"net"
	"sync"
	"testing"
)

var (
	mu    sync.Mutex
	given = map[int]bool{}
)

// Take returns a port that is free now and that this process has not been
// given before. The kernel may hand a just-closed ephemeral port out again
// at once, so two calls in a row (a site and its admin endpoint) could
// otherwise get the same port; CI once polled a Caddy admin endpoint for
// /readyz that way.
//
// It listens on the wildcard address, as the servers do: a port free on
// 127.0.0.1 may still be bound by a client socket on another loopback
// address (the per-address tests dial from 127.0.0.x).
func Take(t testing.TB) int {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	for range 100 {
		l, err := net.Listen("tcp", ":0")
		if err != nil {
			t.Fatalf("freeport: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !given[port] {
			given[port] = true
			return port
		}
	}
	t.Fatal("freeport: the kernel kept handing out ports already given")
	return 0
}
