package httpapi

import (
	"errors"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/mediarepo/mediarepo/internal/media"
)

func TestClientAddrs(t *testing.T) {
	proxy := NewClientAddrs([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")})
	for _, c := range []struct {
		name   string
		addrs  ClientAddrs
		remote string
		xff    []string
		want   string
	}{
		{"no proxy trusted: the peer", ClientAddrs{}, "10.1.1.1:5000", []string{"203.0.113.9"}, "10.1.1.1"},
		{"untrusted peer's header ignored", proxy, "198.51.100.7:5000", []string{"203.0.113.9"}, "198.51.100.7"},
		{"trusted proxy: the right-most hop", proxy, "10.1.1.1:5000", []string{"1.2.3.4, 203.0.113.9"}, "203.0.113.9"},
		{"chain of proxies skipped", proxy, "10.1.1.1:5000", []string{"6.6.6.6, 203.0.113.9, 10.2.2.2"}, "203.0.113.9"},
		{"several header lines", proxy, "10.1.1.1:5000", []string{"6.6.6.6", "203.0.113.9"}, "203.0.113.9"},
		{"garbage hop: stop at the last trusted", proxy, "10.1.1.1:5000", []string{"203.0.113.9, nonsense"}, "10.1.1.1"},
		{"IPv6 by /64", ClientAddrs{}, "[2001:db8:1:2:aaaa::1]:443", nil, "2001:db8:1:2::/64"},
		{"IPv4-mapped is IPv4", ClientAddrs{}, "[::ffff:192.0.2.1]:443", nil, "192.0.2.1"},
		{"IPv6 proxy, IPv6 client", proxy, "[::1]:443", []string{"2001:db8:9:9::7"}, "2001:db8:9:9::/64"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.remote
		for _, v := range c.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := c.addrs.Of(r); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

func TestAddrLimiter(t *testing.T) {
	l := NewAddrLimiter(ClientAddrs{}, 0.5, 2)
	req := func(remote string) error {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		return l.Allow(r)
	}
	for i := 0; i < 2; i++ {
		if err := req("192.0.2.1:1000"); err != nil {
			t.Fatalf("request %d in the burst: %v", i, err)
		}
	}
	err := req("192.0.2.1:2000") // another port, same client
	var ra retryAfterError
	if !errors.Is(err, media.ErrLimitExceeded) || !errors.As(err, &ra) || ra.after < 1 {
		t.Fatalf("over the burst: %v", err)
	}
	if err := req("[2001:db8::1]:1"); err != nil {
		t.Fatal(err)
	}
	if err := req("[2001:db8::2]:1"); err != nil {
		t.Fatal(err)
	}
	if err := req("[2001:db8::3]:1"); !errors.Is(err, media.ErrLimitExceeded) {
		t.Fatalf("a third address of the same /64: %v", err)
	}
	if err := req("192.0.2.2:1000"); err != nil {
		t.Fatalf("another client has its own bucket: %v", err)
	}
	// Exhausted only looks; it never takes a token.
	f := NewAddrLimiter(ClientAddrs{}, 0.1, 1)
	r := httptest.NewRequest("GET", "/", nil)
	for i := 0; i < 3; i++ {
		if err := f.Exhausted(r); err != nil {
			t.Fatalf("look %d: %v", i, err)
		}
	}
	_ = f.Allow(r)
	if err := f.Exhausted(r); !errors.Is(err, media.ErrLimitExceeded) {
		t.Fatalf("after the one failure allowed: %v", err)
	}
}
