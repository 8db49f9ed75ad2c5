package kv

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/mediarepo/mediarepo/internal/media"
)

// KV keys allow only [-/_=.A-Za-z0-9], and '.' separates subject tokens.
// Every variable part of a key becomes exactly one token: bytes of
// [A-Za-z0-9_-] stay, every other byte (including '.', ':', '@', '[', ']'
// and '=' itself) becomes "=XX" in upper-case hex. The encoding is
// reversible and keeps keys readable: "matrix.example.org:8448" becomes
// "matrix=2Eexample=2Eorg=3A8448".

// escapeToken encodes s as a single KV key token.
func escapeToken(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "=%02X", c)
	}
	return b.String()
}

// unescapeToken reverses escapeToken.
func unescapeToken(tok string) (string, error) {
	if !strings.Contains(tok, "=") {
		return tok, nil
	}
	var b strings.Builder
	for i := 0; i < len(tok); i++ {
		if tok[i] != '=' {
			b.WriteByte(tok[i])
			continue
		}
		if i+2 >= len(tok) {
			return "", fmt.Errorf("catalog: truncated escape in key token %q", tok)
		}
		v, err := strconv.ParseUint(tok[i+1:i+3], 16, 8)
		if err != nil {
			return "", fmt.Errorf("catalog: bad escape in key token %q: %w", tok, err)
		}
		b.WriteByte(byte(v))
		i += 2
	}
	return b.String(), nil
}

// recordKey returns the media bucket key "<origin>.<id>" after validating
// both parts.
func recordKey(origin, id string) (string, error) {
	if err := media.ValidateServerName(origin); err != nil {
		return "", err
	}
	if err := media.ValidateMediaID(id); err != nil {
		return "", err
	}
	return escapeToken(origin) + "." + id, nil
}

// parseRecordSuffix splits the last two tokens "<origin>.<id>" of a key.
func parseRecordSuffix(key string) (origin, id string, err error) {
	i := strings.LastIndexByte(key, '.')
	if i <= 0 {
		return "", "", fmt.Errorf("catalog: key %q has no origin", key)
	}
	j := strings.LastIndexByte(key[:i], '.')
	origin, err = unescapeToken(key[j+1 : i])
	if err != nil {
		return "", "", err
	}
	return origin, key[i+1:], nil
}

// blobKey returns the blob bucket key for a SHA-256.
func blobKey(sha string) (string, error) {
	if !media.ValidSHA256(sha) {
		return "", fmt.Errorf("%w: %q is not a lowercase hex SHA-256", media.ErrInvalidID, sha)
	}
	return sha, nil
}

// Index key prefixes in the index bucket.
const (
	idxHash  = "hash"
	idxUser  = "user"
	idxState = "state"
	// idxClean: clean records by upload time (rescan.go).
	idxClean = "clean"
)

// indexedStates are the states with a state index: the ones the reconciler
// and the officers list. Clean, deleted and expired records are found by a
// full walk (ListByState falls back to it).
var indexedStates = map[media.State]bool{
	media.StateReserved: true, media.StatePending: true, media.StateQuarantined: true, media.StateBlocked: true,
}

// indexKey returns "<kind>.<escaped value>.<origin>.<id>".
func indexKey(kind, value, origin, id string) string {
	return kind + "." + escapeToken(value) + "." + escapeToken(origin) + "." + id
}

// indexPrefix returns the filter for every entry of one value.
func indexPrefix(kind, value string) string {
	return kind + "." + escapeToken(value) + ".>"
}

// indexKeys returns the index entries a record should have.
func indexKeys(r media.Record) []string {
	var keys []string
	if r.SHA256 != "" {
		keys = append(keys, indexKey(idxHash, r.SHA256, r.Origin, r.ID))
	}
	if r.Uploader != "" {
		keys = append(keys, indexKey(idxUser, r.Uploader, r.Origin, r.ID))
	}
	if indexedStates[r.State] {
		keys = append(keys, indexKey(idxState, string(r.State), r.Origin, r.ID))
	}
	if r.State == media.StateClean && !r.UploadedAt.IsZero() {
		keys = append(keys, cleanKey(r))
	}
	return keys
}

// indexMatches reports whether the record agrees with an index entry key.
func indexMatches(key string, r media.Record) bool {
	kind, rest, _ := strings.Cut(key, ".")
	tok, _, _ := strings.Cut(rest, ".")
	value, err := unescapeToken(tok)
	if err != nil {
		return false
	}
	switch kind {
	case idxHash:
		return r.SHA256 == value
	case idxUser:
		return r.Uploader == value
	case idxState:
		return string(r.State) == value
	case idxClean:
		return r.State == media.StateClean && !r.UploadedAt.IsZero() && key == cleanKey(r)
	}
	return false
}
