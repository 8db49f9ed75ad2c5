package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/mediarepo/mediarepo/internal/auth"
)

// cachedAuth is an Authenticator that can tell a token it already knows to
// be valid without asking the homeserver (auth.Whoami).
type cachedAuth interface {
	Cached(serverName, token string) (string, bool)
}

// authenticate checks the request's token. Failed checks are counted per
// client address; once an address has used up its allowance, its
// requests are refused (429) before their token is sent to the
// homeserver, except tokens already known to be valid (users behind the
// same NAT as a client sending junk keep working while their tokens are
// cached).
func (a *API) authenticate(ctx context.Context, r *http.Request, server, token string) (string, error) {
	if err := a.failedAuth.Exhausted(r); err != nil {
		if c, ok := a.auth.(cachedAuth); ok {
			if user, ok := c.Cached(server, token); ok {
				return user, nil
			}
		}
		return "", err
	}
	user, err := a.auth.Authenticate(ctx, server, token)
	if errors.Is(err, auth.ErrUnknownToken) {
		_ = a.failedAuth.Allow(r) // counts the failure; the answer stays 401
	}
	return user, err
}
