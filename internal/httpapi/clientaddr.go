package httpapi

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ClientAddrs finds the client address of a request for limits that apply
// before (or without) authentication. The address is the TCP peer's; when
// the peer is a trusted reverse proxy, it is the right-most address of
// X-Forwarded-For that is not itself a trusted proxy (a client can put
// anything at the left of that header, never at the right). The zero
// value trusts no proxy.
type ClientAddrs struct {
	trusted []netip.Prefix
}

// NewClientAddrs returns a ClientAddrs that believes X-Forwarded-For only
// from peers within trusted.
func NewClientAddrs(trusted []netip.Prefix) ClientAddrs {
	return ClientAddrs{trusted: trusted}
}

// Of returns the key of r's client: the IPv4 address, or the /64 of an
// IPv6 address (one subscriber usually holds a whole /64, so counting
// single IPv6 addresses would give each client 2^64 buckets). A peer
// address that does not parse is returned as it is.
func (c ClientAddrs) Of(r *http.Request) string {
	addr, ok := parseHost(r.RemoteAddr)
	if !ok {
		return r.RemoteAddr
	}
	if c.isTrusted(addr) {
		hops := r.Header.Values("X-Forwarded-For")
		for i := len(hops) - 1; i >= 0; i-- {
			parts := strings.Split(hops[i], ",")
			for j := len(parts) - 1; j >= 0; j-- {
				hop, ok := parseHost(strings.TrimSpace(parts[j]))
				if !ok {
					return key(addr) // a forged or broken hop: stop at the last one we trust
				}
				addr = hop
				if !c.isTrusted(hop) {
					return key(addr)
				}
			}
		}
	}
	return key(addr)
}

func (c ClientAddrs) isTrusted(a netip.Addr) bool {
	for _, p := range c.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseHost parses "ip", "ip:port" or "[ip]:port".
func parseHost(s string) (netip.Addr, bool) {
	if h, _, err := net.SplitHostPort(s); err == nil {
		s = h
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

func key(a netip.Addr) string {
	if a.Is6() {
		p, _ := a.Prefix(64) // cannot fail for an IPv6 address
		return p.String()
	}
	return a.String()
}
