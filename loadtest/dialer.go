package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// parseSourceIPs turns -source-ips into a list of local addresses.
// "auto" spreads loopback targets over 127.0.0.2-127.0.0.17 (all of 127/8 is
// on lo) so no (source, destination) pair runs out of its 28k ports.
func parseSourceIPs(s string, targets []string) ([]string, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "", "none":
		return nil, nil
	case "auto":
		for _, t := range targets {
			if !isLoopbackURL(t) {
				return nil, nil
			}
		}
		return loopbackRange(16), nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > 250 {
			return nil, fmt.Errorf("count %d out of range 1..250", n)
		}
		return loopbackRange(n), nil
	}
	var out []string
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		ip := net.ParseIP(p)
		if ip == nil {
			return nil, fmt.Errorf("%q is not an IP address", p)
		}
		out = append(out, ip.String())
	}
	return out, nil
}

func loopbackRange(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("127.0.0.%d", 2+i)
	}
	return out
}

func isLoopbackURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback() && ip.To4() != nil
}

// sourceDialer hands out net.Dialers bound to the configured source
// addresses in turn.
type sourceDialer struct {
	dialers []*net.Dialer
	next    atomic.Uint64
}

func newSourceDialer(ips []string, timeout time.Duration) *sourceDialer {
	sd := &sourceDialer{}
	for _, ip := range ips {
		sd.dialers = append(sd.dialers, &net.Dialer{
			Timeout:   timeout,
			LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)},
			Control:   bindNoPort,
		})
	}
	if len(sd.dialers) == 0 {
		sd.dialers = []*net.Dialer{{Timeout: timeout}}
	}
	return sd
}

// DialContext dials from the next source address (round robin).
func (sd *sourceDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d := sd.dialers[sd.next.Add(1)%uint64(len(sd.dialers))]
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return c, nil
}
