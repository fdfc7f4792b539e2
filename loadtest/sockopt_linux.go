//go:build linux

package main

import (
	"fmt"
	"syscall"
)

// ipBindAddressNoPort is IP_BIND_ADDRESS_NO_PORT (linux/in.h); syscall does
// not export it.
const ipBindAddressNoPort = 24

// bindNoPort makes a socket bound to a source address pick its port at
// connect() time, keyed on the full 4-tuple, instead of at bind() time. Without
// it every source address is limited to ~28k ports across all destinations
// and dials fail with EADDRINUSE once TIME_WAIT sockets pile up
// (the load generator opens many connections from few addresses).
func bindNoPort(_, _ string, rc syscall.RawConn) error {
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
	}); err != nil {
		return fmt.Errorf("raw conn control: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("setsockopt IP_BIND_ADDRESS_NO_PORT: %w", serr)
	}
	return nil
}
