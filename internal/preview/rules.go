package preview

import (
	"fmt"
	"net/url"
	"path"
	"strings"
)

// Rules decide which URLs may be previewed: http and https only, no user
// information, and the operator's glob patterns. A pattern is matched
// against the URL without its fragment ("https://host/path?query"), where
// "*" matches any run of characters (also "/") and "?" one character;
// hosts are lowercase. Deny wins over allow; a non-empty allow list
// admits only what it matches.
type Rules struct {
	deny, allow []string
}

// NewRules checks and returns the rules.
func NewRules(deny, allow []string) (*Rules, error) {
	r := &Rules{}
	for _, list := range []struct {
		in  []string
		out *[]string
	}{{deny, &r.deny}, {allow, &r.allow}} {
		for _, p := range list.in {
			if _, err := path.Match(globToPath(p), ""); err != nil {
				return nil, fmt.Errorf("url pattern %q: %w", p, err)
			}
			*list.out = append(*list.out, p)
		}
	}
	return r, nil
}

// Check returns nil when u may be fetched, else an error wrapping ErrDenied
// (or ErrBadURL for what is not an http(s) URL with a host).
func (r *Rules) Check(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%w: scheme %q", ErrBadURL, u.Scheme)
	}
	if u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("%w: no host", ErrBadURL)
	}
	if u.User != nil {
		return fmt.Errorf("%w: URLs with user information are not previewed", ErrDenied)
	}
	s := canonical(u)
	for _, p := range r.deny {
		if match(p, s) {
			return fmt.Errorf("%w: %s matches %q", ErrDenied, u.Host, p)
		}
	}
	if len(r.allow) == 0 {
		return nil
	}
	for _, p := range r.allow {
		if match(p, s) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s matches no allowed pattern", ErrDenied, u.Host)
}

// canonical is the string patterns see.
func canonical(u *url.URL) string {
	c := *u
	c.Fragment, c.RawFragment = "", ""
	c.Host = strings.ToLower(c.Host)
	c.Scheme = strings.ToLower(c.Scheme)
	return c.String()
}

// match applies a glob where "*" also crosses "/".
func match(pattern, s string) bool {
	ok, err := path.Match(globToPath(pattern), strings.ReplaceAll(s, "/", "\x00"))
	return err == nil && ok
}

// globToPath makes "/" an ordinary character for path.Match, so "*"
// spans path segments.
func globToPath(p string) string { return strings.ReplaceAll(p, "/", "\x00") }
