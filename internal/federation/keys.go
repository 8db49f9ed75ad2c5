package federation

import (
	"context"
	"fmt"
	"sync"
	"time"

	mfed "maunium.net/go/mautrix/federation"
	"maunium.net/go/mautrix/id"
)

// Key cache rules.
const (
	// MaxKeyValidity caps how long fetched keys are trusted, whatever
	// their valid_until_ts says (the spec's "lesser of valid_until_ts and
	// 7 days").
	MaxKeyValidity = 7 * 24 * time.Hour
	// keyRefetchInterval is the least time between two fetches for a key
	// ID a server's current answer does not have.
	keyRefetchInterval = time.Minute
	// keyFailureBackoff is how long a failed fetch is remembered.
	keyFailureBackoff = 10 * time.Second
	// keyFetchTimeout bounds one fetch.
	keyFetchTimeout = 15 * time.Second
	// maxKeyEntries bounds the cache; when full, expired entries go.
	maxKeyEntries = 10000
)

// KeyFetcher fetches a server's self-signed key answer
// (GET /_matrix/key/v2/server); Client has it.
type KeyFetcher interface {
	ServerKeys(ctx context.Context, server string) (*mfed.ServerKeyResponse, error)
}

// KeyStore caches other servers' verify keys, fetched directly from each
// server. An answer is accepted only when its server_name is the server
// asked, its valid_until_ts lies in the future and every verify key
// signed it; it is trusted until the lesser of valid_until_ts and
// MaxKeyValidity. old_verify_keys are not used: they may verify old
// events, never a current request. Notary servers are not consulted.
type KeyStore struct {
	fetch KeyFetcher
	now   func() time.Time

	mu      sync.Mutex
	servers map[string]*serverKeys
}

type serverKeys struct {
	mu         sync.Mutex // serialises fetches for one server
	keys       map[id.KeyID]id.SigningKey
	validUntil time.Time
	fetchedAt  time.Time
	failedAt   time.Time
	failErr    error
}

// NewKeyStore returns an empty KeyStore fetching through f.
func NewKeyStore(f KeyFetcher) *KeyStore {
	return &KeyStore{fetch: f, now: time.Now, servers: map[string]*serverKeys{}}
}

func (k *KeyStore) entry(server string) *serverKeys {
	k.mu.Lock()
	defer k.mu.Unlock()
	e, ok := k.servers[server]
	if !ok {
		if len(k.servers) >= maxKeyEntries {
			now := k.now()
			for s, old := range k.servers {
				if old.mu.TryLock() {
					if !now.Before(old.validUntil) {
						delete(k.servers, s)
					}
					old.mu.Unlock()
				}
			}
		}
		e = &serverKeys{}
		k.servers[server] = e
	}
	return e
}

// Known reports whether keys of server are cached and current. A server
// whose keys are being fetched right now counts as unknown.
func (k *KeyStore) Known(server string) bool {
	k.mu.Lock()
	e, ok := k.servers[server]
	k.mu.Unlock()
	if !ok || !e.mu.TryLock() {
		return false
	}
	defer e.mu.Unlock()
	return len(e.keys) > 0 && k.now().Before(e.validUntil)
}

// Key returns the verify key keyID of server, fetching the server's keys
// when none are cached, they expired, or the key ID is new to us (at most
// once a minute). Errors wrap ErrUnauthorized (and ErrPeerNotAllowed or
// ErrAddressForbidden when the fetch was refused).
func (k *KeyStore) Key(ctx context.Context, server string, keyID id.KeyID) (id.SigningKey, error) {
	e := k.entry(server)
	e.mu.Lock()
	defer e.mu.Unlock()
	now := k.now()
	valid := now.Before(e.validUntil)
	if key, ok := e.keys[keyID]; ok && valid {
		return key, nil
	}
	if now.Sub(e.failedAt) < keyFailureBackoff {
		return "", fmt.Errorf("%w: keys of %s unavailable (failed %s ago): %w", ErrUnauthorized, server, now.Sub(e.failedAt).Round(time.Millisecond), e.failErr)
	}
	if valid && now.Sub(e.fetchedAt) < keyRefetchInterval {
		return "", fmt.Errorf("%w: %s has no key %s", ErrUnauthorized, server, keyID)
	}
	fctx, cancel := context.WithTimeout(ctx, keyFetchTimeout)
	defer cancel()
	resp, err := k.fetch.ServerKeys(fctx, server)
	if err == nil {
		err = checkKeyResponse(resp, server, now)
	}
	if err != nil {
		if ctx.Err() == nil { // a caller that went away says nothing of the server
			e.failedAt, e.failErr = now, err
		}
		return "", fmt.Errorf("%w: fetching keys of %s: %w", ErrUnauthorized, server, err)
	}
	e.keys = map[id.KeyID]id.SigningKey{}
	for kid, vk := range resp.VerifyKeys {
		e.keys[kid] = vk.Key
	}
	e.validUntil = resp.ValidUntilTS.Time
	if limit := now.Add(MaxKeyValidity); e.validUntil.After(limit) {
		e.validUntil = limit
	}
	e.fetchedAt, e.failedAt, e.failErr = now, time.Time{}, nil
	if key, ok := e.keys[keyID]; ok {
		return key, nil
	}
	return "", fmt.Errorf("%w: %s has no key %s", ErrUnauthorized, server, keyID)
}

// checkKeyResponse applies the spec's rules to a key answer of server.
func checkKeyResponse(resp *mfed.ServerKeyResponse, server string, now time.Time) error {
	switch {
	case resp == nil:
		return fmt.Errorf("empty key answer")
	case resp.ServerName != server:
		return fmt.Errorf("key answer is for %q, not %q", resp.ServerName, server)
	case len(resp.VerifyKeys) == 0:
		return fmt.Errorf("key answer has no verify_keys")
	case !now.Before(resp.ValidUntilTS.Time):
		return fmt.Errorf("key answer expired at %s", resp.ValidUntilTS.Time.UTC().Format(time.RFC3339))
	}
	if err := resp.VerifySelfSignature(); err != nil {
		return err
	}
	return nil
}
