//go:build !linux

package main

import "syscall"

// bindNoPort is Linux-only; elsewhere source addresses bind the usual way.
func bindNoPort(_, _ string, _ syscall.RawConn) error { return nil }
