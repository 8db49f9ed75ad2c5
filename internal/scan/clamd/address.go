package clamd

import (
	"fmt"
	"net/url"
	"strings"
)

// ParseAddress splits a clamd address into the network and address that
// net.Dial takes. Accepted forms: "tcp://host:port" and "unix:///path/to/clamd.sock".
func ParseAddress(addr string) (network, address string, err error) {
	u, err := url.Parse(addr)
	if err != nil {
		return "", "", fmt.Errorf("clamd address %q: %w", addr, err)
	}
	switch u.Scheme {
	case "tcp":
		if u.Host == "" || u.Port() == "" || (u.Path != "" && u.Path != "/") {
			return "", "", fmt.Errorf("clamd address %q: want tcp://host:port", addr)
		}
		return "tcp", u.Host, nil
	case "unix":
		if u.Host != "" || !strings.HasPrefix(u.Path, "/") {
			return "", "", fmt.Errorf("clamd address %q: want unix:///absolute/path", addr)
		}
		return "unix", u.Path, nil
	}
	return "", "", fmt.Errorf("clamd address %q: scheme must be tcp or unix", addr)
}
