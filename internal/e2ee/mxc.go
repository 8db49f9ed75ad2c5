package e2ee

import (
	"fmt"
	"strings"
)

// MXC is a parsed Matrix content URI, mxc://{Origin}/{MediaID}.
type MXC struct {
	// Origin is the server name of the homeserver the media belongs to.
	Origin string
	// MediaID is the media's opaque ID on that server.
	MediaID string
}

// String returns the URI form, mxc://origin/mediaID.
func (m MXC) String() string { return "mxc://" + m.Origin + "/" + m.MediaID }

// maxMediaIDLen bounds a media ID; IDs are short random strings in practice.
const maxMediaIDLen = 255

// ParseMXC parses an mxc URI strictly: the origin is a Matrix server name
// (DNS name, IPv4 or [IPv6] literal, optional port) and the media ID matches
// [A-Za-z0-9_-]+. Anything else (query, fragment, extra path segments, empty
// parts) is an error wrapping ErrMalformed.
func ParseMXC(uri string) (MXC, error) {
	rest, ok := strings.CutPrefix(uri, "mxc://")
	if !ok {
		return MXC{}, fmt.Errorf("%w: %q is not an mxc:// URI", ErrMalformed, clip(uri))
	}
	origin, mediaID, ok := strings.Cut(rest, "/")
	if !ok {
		return MXC{}, fmt.Errorf("%w: %q has no media ID", ErrMalformed, clip(uri))
	}
	if err := checkServerName(origin); err != nil {
		return MXC{}, fmt.Errorf("%w: %q: server name %v", ErrMalformed, clip(uri), err)
	}
	if err := checkMediaID(mediaID); err != nil {
		return MXC{}, fmt.Errorf("%w: %q: media ID %v", ErrMalformed, clip(uri), err)
	}
	return MXC{Origin: origin, MediaID: mediaID}, nil
}

func checkMediaID(id string) error {
	if id == "" {
		return fmt.Errorf("is empty")
	}
	if len(id) > maxMediaIDLen {
		return fmt.Errorf("is longer than %d bytes", maxMediaIDLen)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !isAlnum(c) && c != '_' && c != '-' {
			return fmt.Errorf("has character %q (allowed: A-Z a-z 0-9 _ -)", c)
		}
	}
	return nil
}

// checkServerName follows the spec's grammar: host [":" port], host being a
// DNS name or IPv4 address ([A-Za-z0-9.-], 1-255) or an IPv6 literal in
// brackets, port 1-5 digits.
func checkServerName(name string) error {
	host, port := name, ""
	if strings.HasPrefix(name, "[") {
		end := strings.IndexByte(name, ']')
		if end < 0 {
			return fmt.Errorf("has an unterminated IPv6 literal")
		}
		host, port = name[:end+1], name[end+1:]
		if err := checkIPv6Literal(host[1:end]); err != nil {
			return err
		}
		if port != "" {
			var ok bool
			if port, ok = strings.CutPrefix(port, ":"); !ok {
				return fmt.Errorf("has junk after the IPv6 literal")
			}
		}
	} else {
		if h, p, ok := strings.Cut(name, ":"); ok {
			host, port = h, p
			if port == "" {
				return fmt.Errorf("has an empty port")
			}
		}
		if host == "" || len(host) > 255 {
			return fmt.Errorf("host must be 1-255 characters")
		}
		for i := 0; i < len(host); i++ {
			if c := host[i]; !isAlnum(c) && c != '.' && c != '-' {
				return fmt.Errorf("has character %q", c)
			}
		}
	}
	if port != "" || strings.HasSuffix(name, ":") {
		if len(port) < 1 || len(port) > 5 {
			return fmt.Errorf("port must be 1-5 digits")
		}
		for i := 0; i < len(port); i++ {
			if port[i] < '0' || port[i] > '9' {
				return fmt.Errorf("port must be 1-5 digits")
			}
		}
	}
	return nil
}

func checkIPv6Literal(s string) error {
	if len(s) < 2 || len(s) > 45 {
		return fmt.Errorf("IPv6 literal must be 2-45 characters")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == ':' || c == '.') {
			return fmt.Errorf("IPv6 literal has character %q", c)
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
