package storage

import (
	"fmt"
	"strings"
)

// MaxKeyLength is the longest key any backend must accept.
const MaxKeyLength = 512

// ValidateKey checks that key is a relative slash-separated path of the
// characters [A-Za-z0-9._=-] per segment, with no empty, "." or ".."
// segment. Every backend calls it before touching its medium, so a key can
// never escape the store's root. The error wraps ErrInvalidKey.
func ValidateKey(key string) error {
	if key == "" || len(key) > MaxKeyLength {
		return fmt.Errorf("%w: length %d", ErrInvalidKey, len(key))
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("%w: bad segment in %q", ErrInvalidKey, key)
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
				c == '.' || c == '_' || c == '-' || c == '='
			if !ok {
				return fmt.Errorf("%w: character %q in %q", ErrInvalidKey, c, key)
			}
		}
	}
	return nil
}

// ValidatePrefix checks a List prefix: the empty prefix lists everything,
// any other prefix must be the beginning of some valid key (so "media/" and
// "media/ab" are fine, "../" and "a//" are not). The error wraps
// ErrInvalidKey.
func ValidatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if err := ValidateKey(prefix + "x"); err != nil {
		return fmt.Errorf("prefix %q: %w", prefix, err)
	}
	return nil
}
