package auth

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Bounds of the token caches. Valid and unknown tokens are kept apart, so
// that fresh junk tokens (anyone can make them, each costs one whoami)
// never evict valid ones. A full cache is cleared, which costs one whoami
// per token and never grants anything; the per-address limit of failed
// authentications in the HTTP layer bounds how fast junk arrives.
const (
	defaultMaxValid   = 100000
	defaultMaxInvalid = 10000
)

// Whoami checks tokens with each server name's homeserver
// (GET /_matrix/client/v3/account/whoami) and caches answers briefly.
type Whoami struct {
	homeservers map[string]string // server name → base URL
	client      *http.Client
	ttl, negTTL time.Duration
	now         func() time.Time

	mu                   sync.Mutex
	valid                map[[32]byte]cached
	invalid              map[[32]byte]time.Time // expiry
	maxValid, maxInvalid int
}

type cached struct {
	id      Identity
	expires time.Time
}

// NewWhoami returns a Whoami authenticator. homeservers maps each served
// server name to its homeserver's base URL; ttl and negTTL bound how long
// a valid or unknown token is remembered; client's Timeout bounds a call.
func NewWhoami(homeservers map[string]string, client *http.Client, ttl, negTTL time.Duration) *Whoami {
	hs := make(map[string]string, len(homeservers))
	for k, v := range homeservers {
		hs[k] = strings.TrimRight(v, "/")
	}
	return &Whoami{homeservers: hs, client: client, ttl: ttl, negTTL: negTTL,
		now: time.Now, valid: map[[32]byte]cached{}, invalid: map[[32]byte]time.Time{},
		maxValid: defaultMaxValid, maxInvalid: defaultMaxInvalid}
}

// Authenticate implements Authenticator.
func (w *Whoami) Authenticate(ctx context.Context, serverName, token string) (string, error) {
	id, err := w.Identify(ctx, serverName, token, "")
	return id.UserID, err
}

// Identify implements Authenticator: whoami with ?user_id=asUser when
// asUser is set, so the homeserver applies its application-service rule.
// A token that answers with another user than the one asserted (a plain
// user's token, which the homeserver answers for itself) is refused.
func (w *Whoami) Identify(ctx context.Context, serverName, token, asUser string) (Identity, error) {
	base, ok := w.homeservers[serverName]
	if !ok {
		return Identity{}, fmt.Errorf("%w: %s", ErrUnknownServer, serverName)
	}
	key := cacheKey(serverName, token, asUser)
	now := w.now()
	if id, ok := w.cached(key); ok {
		return id, nil
	}
	w.mu.Lock()
	exp, bad := w.invalid[key]
	w.mu.Unlock()
	if bad && now.Before(exp) {
		return Identity{}, ErrUnknownToken
	}
	id, err := w.ask(ctx, base, token, asUser)
	switch {
	case err == nil && UserServerName(id.UserID) != serverName:
		err = fmt.Errorf("%w: user %s does not belong to %s", ErrUnknownToken, id.UserID, serverName)
	case err == nil && asUser != "" && id.UserID != asUser:
		err = fmt.Errorf("%w: asked to act as %s, the homeserver answered for %s", ErrForbidden, asUser, id.UserID)
	}
	switch {
	case isUnknown(err):
		w.mu.Lock()
		if len(w.invalid) >= w.maxInvalid {
			clear(w.invalid)
		}
		w.invalid[key] = now.Add(w.negTTL)
		w.mu.Unlock()
	case err == nil:
		w.mu.Lock()
		if len(w.valid) >= w.maxValid {
			clear(w.valid)
		}
		w.valid[key] = cached{id: id, expires: now.Add(w.ttl)}
		w.mu.Unlock()
	}
	if err != nil {
		return Identity{}, err
	}
	return id, nil
}

func cacheKey(serverName, token, asUser string) [32]byte {
	return sha256.Sum256([]byte(serverName + "\x00" + token + "\x00" + asUser))
}

// Cached returns the identity of a token it checked recently and found
// valid for serverName (acting as asUser), without asking the homeserver.
func (w *Whoami) Cached(serverName, token, asUser string) (Identity, bool) {
	return w.cached(cacheKey(serverName, token, asUser))
}

func (w *Whoami) cached(key [32]byte) (Identity, bool) {
	w.mu.Lock()
	c, ok := w.valid[key]
	w.mu.Unlock()
	if !ok || !w.now().Before(c.expires) {
		return Identity{}, false
	}
	return c.id, true
}

// cachedInvalid returns how many unknown tokens are remembered.
func (w *Whoami) cachedInvalid() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.invalid)
}

func isUnknown(err error) bool { return errors.Is(err, ErrUnknownToken) }

func (w *Whoami) ask(ctx context.Context, base, token, asUser string) (Identity, error) {
	u := base + "/_matrix/client/v3/account/whoami"
	if asUser != "" {
		u += "?user_id=" + url.QueryEscape(asUser)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := w.client.Do(req)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return Identity{}, fmt.Errorf("%w: reading whoami: %v", ErrUnavailable, err)
	}
	var out struct {
		UserID  string `json:"user_id"`
		IsGuest bool   `json:"is_guest"`
		ErrCode string `json:"errcode"`
	}
	decodeErr := json.Unmarshal(body, &out)
	switch {
	case resp.StatusCode == http.StatusOK && decodeErr != nil:
		return Identity{}, fmt.Errorf("%w: whoami answered 200 with a bad body: %v", ErrUnavailable, decodeErr)
	case resp.StatusCode == http.StatusOK && out.UserID != "":
		return Identity{UserID: out.UserID, Guest: out.IsGuest}, nil
	case resp.StatusCode == http.StatusUnauthorized || (resp.StatusCode == http.StatusForbidden && out.ErrCode == "M_UNKNOWN_TOKEN"):
		return Identity{}, fmt.Errorf("%w: homeserver answered %d %s", ErrUnknownToken, resp.StatusCode, out.ErrCode)
	case resp.StatusCode == http.StatusForbidden && asUser != "":
		// An application service asking for a user outside its namespace.
		return Identity{}, fmt.Errorf("%w: the homeserver refused acting as %s (%s)", ErrForbidden, asUser, out.ErrCode)
	default:
		return Identity{}, fmt.Errorf("%w: whoami answered %d", ErrUnavailable, resp.StatusCode)
	}
}
