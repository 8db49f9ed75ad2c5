package auth

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// maxCacheEntries bounds the token cache; when full it is cleared, which
// costs one whoami per active token and never grants anything.
const maxCacheEntries = 100000

// Whoami checks tokens with each server name's homeserver
// (GET /_matrix/client/v3/account/whoami) and caches answers briefly.
type Whoami struct {
	homeservers map[string]string // server name → base URL
	client      *http.Client
	ttl, negTTL time.Duration
	now         func() time.Time

	mu    sync.Mutex
	cache map[[32]byte]cached
}

type cached struct {
	user    string // "" for a negative entry
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
		now: time.Now, cache: map[[32]byte]cached{}}
}

// Authenticate implements Authenticator.
func (w *Whoami) Authenticate(ctx context.Context, serverName, token string) (string, error) {
	base, ok := w.homeservers[serverName]
	if !ok {
		return "", fmt.Errorf("%w: %s", ErrUnknownServer, serverName)
	}
	key := sha256.Sum256([]byte(serverName + "\x00" + token))
	now := w.now()
	w.mu.Lock()
	c, hit := w.cache[key]
	w.mu.Unlock()
	if hit && now.Before(c.expires) {
		if c.user == "" {
			return "", ErrUnknownToken
		}
		return c.user, nil
	}
	user, err := w.ask(ctx, base, token)
	switch {
	case err == nil && UserServerName(user) != serverName:
		err = fmt.Errorf("%w: user %s does not belong to %s", ErrUnknownToken, user, serverName)
		user = ""
		fallthrough
	case err == nil || isUnknown(err):
		ttl := w.ttl
		if user == "" {
			ttl = w.negTTL
		}
		w.mu.Lock()
		if len(w.cache) >= maxCacheEntries {
			clear(w.cache)
		}
		w.cache[key] = cached{user: user, expires: now.Add(ttl)}
		w.mu.Unlock()
	}
	return user, err
}

func isUnknown(err error) bool { return errors.Is(err, ErrUnknownToken) }

func (w *Whoami) ask(ctx context.Context, base, token string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/_matrix/client/v3/account/whoami", nil)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := w.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", fmt.Errorf("%w: reading whoami: %v", ErrUnavailable, err)
	}
	var out struct {
		UserID  string `json:"user_id"`
		ErrCode string `json:"errcode"`
	}
	decodeErr := json.Unmarshal(body, &out)
	switch {
	case resp.StatusCode == http.StatusOK && decodeErr != nil:
		return "", fmt.Errorf("%w: whoami answered 200 with a bad body: %v", ErrUnavailable, decodeErr)
	case resp.StatusCode == http.StatusOK && out.UserID != "":
		return out.UserID, nil
	case resp.StatusCode == http.StatusUnauthorized || (resp.StatusCode == http.StatusForbidden && out.ErrCode == "M_UNKNOWN_TOKEN"):
		return "", fmt.Errorf("%w: homeserver answered %d %s", ErrUnknownToken, resp.StatusCode, out.ErrCode)
	default:
		return "", fmt.Errorf("%w: whoami answered %d", ErrUnavailable, resp.StatusCode)
	}
}
