// Package netcut gives tests a dialer whose connections they can cut: to
// the server behind it, the client is gone (as after a crash) though its
// process lives on, and it can come back.
package netcut

import (
	"context"
	"errors"
	"net"
	"sync"
)

// Link dials until Cut(true), which also closes every connection it made;
// Cut(false) lets it dial again. The zero value is ready.
type Link struct {
	mu    sync.Mutex
	cut   bool
	conns []net.Conn
}

// Dial has go-redis's Options.Dialer signature.
func (l *Link) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cut {
		return nil, errors.New("netcut: severed")
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err == nil {
		l.conns = append(l.conns, c)
	}
	return c, err
}

// Cut severs the link (and its open connections), or restores it.
func (l *Link) Cut(cut bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = cut
	if cut {
		for _, c := range l.conns {
			c.Close()
		}
		l.conns = nil
	}
}
