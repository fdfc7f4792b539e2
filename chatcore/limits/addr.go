package limits

import "net/netip"

// ClientKey is the key a client address is limited under: the address
// itself for IPv4, its /64 for IPv6, since one subscriber usually holds a
// whole /64 and could otherwise take a fresh address per connection.
// Anything unparsable is used as given.
func ClientKey(addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		if ap, perr := netip.ParseAddrPort(addr); perr == nil {
			ip = ap.Addr()
		} else {
			return addr
		}
	}
	ip = ip.Unmap()
	if ip.Is4() {
		return ip.String()
	}
	p, _ := ip.Prefix(64)
	return p.String()
}
