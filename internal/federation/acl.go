package federation

import (
	"fmt"
	"strings"
)

// PeerACL is the allow-list of peer servers, applied both ways: media of
// a server outside it is never fetched, and its requests are refused
// before any key is fetched. An empty list allows every server.
type PeerACL struct {
	exact    map[string]bool
	suffixes []string
}

// NewPeerACL builds the allow-list from server names ("example.org",
// "matrix.example.org:8448") and wildcards ("*.example.org" matches any
// subdomain, not example.org itself). Names compare case-insensitively;
// a name without a port matches that host on any port only when written
// as a wildcard, so list "host:port" explicitly for non-default ports.
func NewPeerACL(peers []string) *PeerACL {
	a := &PeerACL{exact: map[string]bool{}}
	for _, p := range peers {
		p = strings.ToLower(strings.TrimSpace(p))
		if s, ok := strings.CutPrefix(p, "*."); ok {
			a.suffixes = append(a.suffixes, "."+s)
		} else if p != "" {
			a.exact[p] = true
		}
	}
	return a
}

// Check returns nil when server may federate with us, else an error
// wrapping ErrPeerNotAllowed.
func (a *PeerACL) Check(server string) error {
	if a == nil || (len(a.exact) == 0 && len(a.suffixes) == 0) {
		return nil
	}
	s := strings.ToLower(server)
	if a.exact[s] {
		return nil
	}
	host := s
	if i := strings.LastIndexByte(s, ':'); i >= 0 && !strings.HasSuffix(s, "]") {
		host = s[:i]
	}
	for _, suf := range a.suffixes {
		if strings.HasSuffix(host, suf) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s", ErrPeerNotAllowed, server)
}
