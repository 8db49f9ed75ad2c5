package federation

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// AddrPolicy decides which resolved addresses outgoing federation
// connections may reach. It is applied by the dialer to the address
// actually dialled, after DNS resolution, for every connection: the first
// request, key fetches, .well-known lookups and every redirect.
type AddrPolicy struct {
	// AllowPrivate permits loopback, RFC 1918 / RFC 6598 (CGNAT) and IPv6
	// unique-local addresses: for closed federations on internal networks
	// and for tests on loopback. Link-local (including 169.254.169.254,
	// the cloud metadata address), unspecified, multicast and broadcast
	// addresses are refused even then, and so are the local-use NAT64
	// prefix 64:ff9b:1::/48 (RFC 8215: it translates into the operator's
	// own networks), deprecated IPv6 site-local fec0::/10 and the AWS IPv6
	// metadata address fd00:ec2::254.
	AllowPrivate bool
	// check, when set, replaces the rules above (tests of the dial path).
	check func(netip.AddrPort) error
}

var (
	cgnat     = netip.MustParsePrefix("100.64.0.0/10")
	thisNet   = netip.MustParsePrefix("0.0.0.0/8")
	broadcast = netip.MustParseAddr("255.255.255.255")
	// nat64 embeds an IPv4 address; it is judged by that address.
	nat64 = netip.MustParsePrefix("64:ff9b::/96")
	// localNAT64 (RFC 8215) may translate to anything, private included.
	localNAT64 = netip.MustParsePrefix("64:ff9b:1::/48")
	siteLocal  = netip.MustParsePrefix("fec0::/10")
	// awsMetadata6 is the AWS instance metadata service over IPv6.
	awsMetadata6 = netip.MustParseAddr("fd00:ec2::254")
)

// Check returns nil when ap may be dialled, else an error wrapping
// ErrAddressForbidden.
func (p AddrPolicy) Check(ap netip.AddrPort) error {
	if p.check != nil {
		return p.check(ap)
	}
	a := ap.Addr().Unmap()
	if nat64.Contains(a) {
		b := a.As16()
		a = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	}
	switch {
	case !a.IsValid():
		return fmt.Errorf("%w: %s is not an IP address", ErrAddressForbidden, ap)
	case a.IsUnspecified(), thisNet.Contains(a), a == broadcast:
		return fmt.Errorf("%w: %s is unspecified or broadcast", ErrAddressForbidden, a)
	case a.IsLinkLocalUnicast(), a.IsLinkLocalMulticast():
		return fmt.Errorf("%w: %s is link-local", ErrAddressForbidden, a)
	case a.IsMulticast(), a.IsInterfaceLocalMulticast():
		return fmt.Errorf("%w: %s is multicast", ErrAddressForbidden, a)
	case localNAT64.Contains(a), siteLocal.Contains(a):
		return fmt.Errorf("%w: %s is local-use NAT64 or site-local", ErrAddressForbidden, a)
	case a == awsMetadata6:
		return fmt.Errorf("%w: %s is a cloud metadata address", ErrAddressForbidden, a)
	case p.AllowPrivate:
		return nil
	case a.IsLoopback():
		return fmt.Errorf("%w: %s is loopback", ErrAddressForbidden, a)
	case a.IsPrivate(), cgnat.Contains(a):
		return fmt.Errorf("%w: %s is private", ErrAddressForbidden, a)
	}
	return nil
}

// control is a net.Dialer Control function enforcing the policy on the
// address about to be connected (after resolution, before any packet).
func (p AddrPolicy) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q: %v", ErrAddressForbidden, address, err)
	}
	if network != "tcp" && network != "tcp4" && network != "tcp6" {
		return fmt.Errorf("%w: network %s", ErrAddressForbidden, network)
	}
	return p.Check(ap)
}

// Dialer returns a net.Dialer that refuses addresses the policy forbids.
func (p AddrPolicy) Dialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: p.control}
}
