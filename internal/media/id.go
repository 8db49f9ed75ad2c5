// Package media holds the domain of the media repository: media and blob
// records, the state machine with its pure transition functions, the
// validation of media IDs, server names and user IDs, and the domain
// errors every layer uses. It imports nothing of ours.
package media

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// MaxIDLength is the longest media ID accepted (our own IDs are 24
// characters; remote servers may use longer ones).
const MaxIDLength = 255

// MaxServerNameLength is the longest server name accepted, port included.
const MaxServerNameLength = 255

// MaxUserIDLength is the Matrix limit on the length of a user ID.
const MaxUserIDLength = 255

// ValidateMediaID returns nil when id is 1..MaxIDLength characters of
// [A-Za-z0-9_-], else an error wrapping ErrInvalidID. A valid ID is safe as
// a path element and as a KV key token.
func ValidateMediaID(id string) error {
	if id == "" || len(id) > MaxIDLength {
		return fmt.Errorf("%w: length %d", ErrInvalidID, len(id))
	}
	for i := 0; i < len(id); i++ {
		if !isIDChar(id[i]) {
			return fmt.Errorf("%w: character %q at %d", ErrInvalidID, id[i], i)
		}
	}
	return nil
}

func isIDChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// NewMediaID returns a fresh random media ID: 24 characters of
// [A-Za-z0-9_-] (144 bits from crypto/rand).
func NewMediaID() string {
	var b [18]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it crashes the program instead)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ValidateServerName checks name against the Matrix server-name grammar:
// a DNS name, an IPv4 address or a bracketed IPv6 address, optionally
// followed by ":port" (1-65535), at most MaxServerNameLength characters.
// DNS names must not have empty labels. Errors wrap ErrInvalidServerName.
func ValidateServerName(name string) error {
	if name == "" || len(name) > MaxServerNameLength {
		return fmt.Errorf("%w: length %d", ErrInvalidServerName, len(name))
	}
	host := name
	if strings.HasPrefix(name, "[") {
		end := strings.IndexByte(name, ']')
		if end < 0 {
			return fmt.Errorf("%w: unterminated IPv6 literal", ErrInvalidServerName)
		}
		addr, err := netip.ParseAddr(name[1:end])
		if err != nil || !addr.Is6() || addr.Zone() != "" {
			return fmt.Errorf("%w: bad IPv6 literal %q", ErrInvalidServerName, name[1:end])
		}
		host = name[:end+1]
	} else if i := strings.IndexByte(name, ':'); i >= 0 {
		host = name[:i]
	}
	if rest := name[len(host):]; rest != "" {
		if err := validatePort(rest); err != nil {
			return err
		}
	}
	if strings.HasPrefix(host, "[") {
		return nil
	}
	return validateDNSName(host)
}

func validatePort(rest string) error {
	digits, ok := strings.CutPrefix(rest, ":")
	if !ok || digits == "" || len(digits) > 5 {
		return fmt.Errorf("%w: bad port %q", ErrInvalidServerName, rest)
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return fmt.Errorf("%w: bad port %q", ErrInvalidServerName, rest)
		}
	}
	if p, err := strconv.Atoi(digits); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("%w: port out of range %q", ErrInvalidServerName, rest)
	}
	return nil
}

// validateDNSName accepts dns-char (ALPHA / DIGIT / "-" / ".") with no empty
// label; an all-numeric dotted name is an IPv4 address and must parse as one.
func validateDNSName(host string) error {
	if host == "" {
		return fmt.Errorf("%w: empty host", ErrInvalidServerName)
	}
	numeric := true
	for _, label := range strings.Split(host, ".") {
		if label == "" {
			return fmt.Errorf("%w: empty label in %q", ErrInvalidServerName, host)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			switch {
			case c >= '0' && c <= '9':
			case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-':
				numeric = false
			default:
				return fmt.Errorf("%w: character %q in %q", ErrInvalidServerName, c, host)
			}
		}
	}
	if numeric && strings.Contains(host, ".") {
		if addr, err := netip.ParseAddr(host); err != nil || !addr.Is4() {
			return fmt.Errorf("%w: bad IPv4 address %q", ErrInvalidServerName, host)
		}
	}
	return nil
}

// ValidateUserID checks a Matrix user ID "@localpart:server_name": at most
// MaxUserIDLength characters, a non-empty localpart of printable ASCII
// without ':' (the historical grammar, which still exists in the wild) and a
// valid server name. Errors wrap ErrInvalidUserID.
func ValidateUserID(userID string) error {
	if len(userID) > MaxUserIDLength {
		return fmt.Errorf("%w: longer than %d", ErrInvalidUserID, MaxUserIDLength)
	}
	local, server, ok := strings.Cut(strings.TrimPrefix(userID, "@"), ":")
	if !strings.HasPrefix(userID, "@") || !ok || local == "" {
		return fmt.Errorf("%w: %q is not @localpart:server", ErrInvalidUserID, userID)
	}
	for i := 0; i < len(local); i++ {
		if local[i] < 0x21 || local[i] > 0x7e {
			return fmt.Errorf("%w: character %q in localpart", ErrInvalidUserID, local[i])
		}
	}
	if err := ValidateServerName(server); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidUserID, err)
	}
	return nil
}

// UserServerName returns the server name of a valid user ID (everything
// after the first ':'), or an error wrapping ErrInvalidUserID.
func UserServerName(userID string) (string, error) {
	if err := ValidateUserID(userID); err != nil {
		return "", err
	}
	_, server, _ := strings.Cut(userID, ":")
	return server, nil
}

// MXC returns the content URI "mxc://server/id". It does not validate.
func MXC(server, id string) string {
	return "mxc://" + server + "/" + id
}

// ParseMXC splits "mxc://server/id" and validates both parts. Errors wrap
// ErrInvalidServerName or ErrInvalidID.
func ParseMXC(uri string) (server, id string, err error) {
	rest, ok := strings.CutPrefix(uri, "mxc://")
	if !ok {
		return "", "", fmt.Errorf("%w: %q is not an mxc:// URI", ErrInvalidID, uri)
	}
	server, id, ok = strings.Cut(rest, "/")
	if !ok {
		return "", "", fmt.Errorf("%w: %q has no media ID", ErrInvalidID, uri)
	}
	if err := ValidateServerName(server); err != nil {
		return "", "", err
	}
	if err := ValidateMediaID(id); err != nil {
		return "", "", err
	}
	return server, id, nil
}
