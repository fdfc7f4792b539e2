package testenv

import (
	"net"
	"syscall"
	"time"
)

// DialerFrom dials from the loopback address ip (127.0.0.x), so that
// per-address limits count its connections apart from the test's own.
//
// It sets SO_REUSEADDR: without it each socket bound to 127.0.0.x:P, open
// or in TIME_WAIT for a minute after, keeps every other test's server from
// listening on :P (a wildcard bind conflicts unless both sides set
// SO_REUSEADDR), and tests make thousands of them.
func DialerFrom(ip string) *net.Dialer {
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second,
		Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
			}); err != nil {
				return err
			}
			return serr
		}}
}
