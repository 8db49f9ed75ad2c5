// Package auth checks Matrix access tokens: against the homeserver's
// whoami endpoint (with a short positive and negative cache) or, in the
// embedded default only, against a static token file.
package auth

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Sentinel errors; the HTTP layer maps them to Matrix errcodes.
var (
	// ErrMissingToken: no Authorization header (401 M_MISSING_TOKEN).
	ErrMissingToken = errors.New("auth: missing access token")
	// ErrUnknownToken: the homeserver does not know the token, or it
	// belongs to a user of another server name (401 M_UNKNOWN_TOKEN).
	ErrUnknownToken = errors.New("auth: unknown access token")
	// ErrUnavailable: the homeserver could not be asked (502); never a pass.
	ErrUnavailable = errors.New("auth: homeserver unavailable")
	// ErrUnknownServer: the request's Host selects no served server name.
	ErrUnknownServer = errors.New("auth: unknown server name")
	// ErrForbidden: the token may not act as the user it asserts
	// (?user_id= of an application service, 403 M_FORBIDDEN).
	ErrForbidden = errors.New("auth: not allowed to act as that user")
)

// Identity is what a token check establishes.
type Identity struct {
	// UserID is the user the request acts as: the token's owner, or the
	// user an application service asserted and the homeserver allowed.
	UserID string
	// Guest: the homeserver says the token is a guest's (is_guest).
	Guest bool
}

// Authenticator resolves an access token presented for a served server
// name to the Matrix user ID that owns it.
type Authenticator interface {
	// Authenticate returns the user ID, or an error wrapping
	// ErrUnknownToken, ErrUnavailable or ErrUnknownServer.
	Authenticate(ctx context.Context, serverName, token string) (string, error)
	// Identify is Authenticate for a request that may assert a user: an
	// application service acting for one of its users (?user_id=, spec
	// "identity assertion"); asUser "" asserts nothing. The homeserver
	// decides whether the token may act as asUser; a refusal wraps
	// ErrForbidden.
	Identify(ctx context.Context, serverName, token, asUser string) (Identity, error)
}

// BearerToken extracts the token from an Authorization header value.
// Query-string tokens are not accepted anywhere (removed from the spec).
func BearerToken(header string) (string, error) {
	if header == "" {
		return "", ErrMissingToken
	}
	scheme, tok, ok := strings.Cut(header, " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", fmt.Errorf("%w: Authorization is not a Bearer token", ErrUnknownToken)
	}
	return tok, nil
}

// UserServerName returns the server name part of a Matrix user ID
// ("@alice:example.org:8448" → "example.org:8448").
func UserServerName(userID string) string {
	if !strings.HasPrefix(userID, "@") {
		return ""
	}
	_, server, ok := strings.Cut(userID, ":")
	if !ok {
		return ""
	}
	return server
}

// Static is the development authenticator of the embedded default: a
// fixed set of tokens, each owned by one user.
type Static struct {
	users map[string]string // token → user ID
}

// NewStatic returns a Static authenticator for the token → user ID map.
func NewStatic(tokens map[string]string) *Static {
	m := make(map[string]string, len(tokens))
	for k, v := range tokens {
		m[k] = v
	}
	return &Static{users: m}
}

// LoadStaticFile reads lines "TOKEN USER_ID" (blank lines and # comments
// ignored).
func LoadStaticFile(path string) (*Static, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("auth: static tokens: %w", err)
	}
	defer f.Close()
	tokens := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 || UserServerName(fields[1]) == "" {
			return nil, fmt.Errorf("auth: %s:%d: want \"TOKEN @user:server\"", path, n)
		}
		tokens[fields[0]] = fields[1]
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("auth: static tokens: %w", err)
	}
	return NewStatic(tokens), nil
}

// Identify implements Authenticator: the static tokens are no application
// services, so a token may only assert its own user.
func (s *Static) Identify(ctx context.Context, serverName, token, asUser string) (Identity, error) {
	user, err := s.Authenticate(ctx, serverName, token)
	if err != nil {
		return Identity{}, err
	}
	if asUser != "" && asUser != user {
		return Identity{}, fmt.Errorf("%w: %s may not act as %s", ErrForbidden, user, asUser)
	}
	return Identity{UserID: user}, nil
}

// Authenticate implements Authenticator.
func (s *Static) Authenticate(_ context.Context, serverName, token string) (string, error) {
	user, ok := s.users[token]
	if !ok {
		return "", ErrUnknownToken
	}
	if UserServerName(user) != serverName {
		return "", fmt.Errorf("%w: user %s does not belong to %s", ErrUnknownToken, user, serverName)
	}
	return user, nil
}
