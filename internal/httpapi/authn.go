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
	Cached(serverName, token, asUser string) (auth.Identity, bool)
}

// errGuestUpload: guests may download (MSC4189) but not upload unless
// auth.guest_uploads is on (403 M_GUEST_ACCESS_FORBIDDEN).
var errGuestUpload = errors.New("guests may not upload media on this server")

// guest reports whether the request's user is a guest.
func guest(ctx context.Context) bool {
	g, _ := ctx.Value(keyGuest).(bool)
	return g
}

// authenticate checks the request's token, acting as the user of
// ?user_id= when an application service asserts one (the homeserver
// decides whether it may). Failed checks are counted per client address;
// once an address has used up its allowance, its requests are refused
// (429) before their token is sent to the homeserver, except tokens
// already known to be valid (users behind the same NAT as a client
// sending junk keep working while their tokens are cached).
func (a *API) authenticate(ctx context.Context, r *http.Request, server, token string) (auth.Identity, error) {
	asUser := r.URL.Query().Get("user_id")
	if err := a.failedAuth.Exhausted(r); err != nil {
		if c, ok := a.auth.(cachedAuth); ok {
			if id, ok := c.Cached(server, token, asUser); ok {
				return id, nil
			}
		}
		return auth.Identity{}, err
	}
	id, err := a.auth.Identify(ctx, server, token, asUser)
	if errors.Is(err, auth.ErrUnknownToken) {
		_ = a.failedAuth.Allow(r) // counts the failure; the answer stays 401
	}
	return id, err
}
