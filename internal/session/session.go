// Package session keeps the security officers' web sessions on the server
// side, in a JetStream key-value bucket, so that any mediarepo replica
// serves any session (design §7). The browser holds only a random session
// ID in a cookie; the bucket is keyed by the ID's SHA-256, so reading the
// bucket does not yield usable cookies.
//
// A session has an absolute lifetime (TTL) and an idle timeout. An expired
// session is never served: Get removes it and logs its Matrix device out
// at the homeserver (the access token obtained at login), and a sweeper
// (Run) does the same for sessions nobody comes back to, so no device is
// left behind. The bucket's own max age (TTL plus a grace period) is the
// backstop should every sweeper be down.
//
// Each session carries a CSRF token that every form must echo.
package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Errors of the session store.
var (
	// ErrNotFound means no session has that ID (never created, logged out,
	// or removed after expiry).
	ErrNotFound = errors.New("session: not found")
	// ErrExpired means the session outlived its TTL or idle timeout; it
	// has been removed.
	ErrExpired = errors.New("session: expired")
)

// Login methods recorded on a session.
const (
	MethodPassword = "password"
	MethodSSO      = "sso"
	// MethodDevToken: the embedded default's development token; there is
	// no homeserver device to log out.
	MethodDevToken = "dev_token"
)

// Session is one officer's login.
type Session struct {
	UserID string `json:"user_id"`
	// Method is how the officer logged in (MethodPassword, ...).
	Method string `json:"method"`
	// Homeserver is the base URL that issued AccessToken.
	Homeserver string `json:"homeserver,omitempty"`
	// AccessToken and DeviceID were obtained at login; logout and expiry
	// use them to remove the device.
	AccessToken string `json:"access_token,omitempty"`
	DeviceID    string `json:"device_id,omitempty"`
	// CSRF is the token every form of this session must carry.
	CSRF string `json:"csrf"`
	// Lang is the page language the officer chose ("de", "en").
	Lang      string    `json:"lang,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	LastSeen  time.Time `json:"last_seen"`
	// ExpiresAt is CreatedAt plus the TTL.
	ExpiresAt time.Time `json:"expires_at"`
}

// CheckCSRF reports whether token is the session's CSRF token (constant time).
func (s Session) CheckCSRF(token string) bool {
	return s.CSRF != "" && subtle.ConstantTimeCompare([]byte(s.CSRF), []byte(token)) == 1
}

// Logouter removes a Matrix device at its homeserver. Logout of a token the
// homeserver no longer knows must succeed (it is gone either way).
type Logouter interface {
	Logout(ctx context.Context, homeserver, accessToken string) error
}

// Options configure the store. Zero values take the defaults named.
type Options struct {
	// Bucket is the KV bucket ("mediarepo_sessions").
	Bucket string
	// TTL is the absolute lifetime of a session (8h).
	TTL time.Duration
	// Idle ends a session nobody used for this long (30m).
	Idle time.Duration
	// Replicas of the bucket (1; 3 in a cluster).
	Replicas int
	// SweepInterval is how often Run looks for expired sessions (1m).
	SweepInterval time.Duration
}

// sweepGrace is how long past the TTL the bucket keeps an entry, so that
// sweepers have time to log its device out.
const sweepGrace = time.Hour

func (o *Options) defaults() {
	if o.Bucket == "" {
		o.Bucket = "mediarepo_sessions"
	}
	if o.TTL <= 0 {
		o.TTL = 8 * time.Hour
	}
	if o.Idle <= 0 {
		o.Idle = 30 * time.Minute
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.SweepInterval <= 0 {
		o.SweepInterval = time.Minute
	}
}

// Store keeps sessions. It is safe for concurrent use.
type Store struct {
	kv     jetstream.KeyValue
	opts   Options
	logout Logouter
	log    *slog.Logger
	now    func() time.Time
}

// New creates (or updates) the bucket and returns the store. logout may be
// nil when no session ever holds a homeserver token (tests, dev token).
func New(ctx context.Context, js jetstream.JetStream, opts Options, logout Logouter, log *slog.Logger) (*Store, error) {
	opts.defaults()
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      opts.Bucket,
		Description: "mediarepo officers' web sessions",
		TTL:         opts.TTL + sweepGrace,
		Storage:     jetstream.FileStorage,
		Replicas:    opts.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("session: bucket %s: %w", opts.Bucket, err)
	}
	return &Store{kv: kv, opts: opts, logout: logout, log: log, now: time.Now}, nil
}

// TTL returns the absolute lifetime of a session (for the cookie's Max-Age).
func (st *Store) TTL() time.Duration { return st.opts.TTL }

// randomToken returns 32 random bytes, base64url without padding.
func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// key is the bucket key of a session ID: its SHA-256.
func key(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// Create stores a new session for s (UserID, Method, Homeserver,
// AccessToken, DeviceID, Lang are taken; times and the CSRF token are set)
// and returns its ID, the value for the cookie.
func (st *Store) Create(ctx context.Context, s Session) (string, Session, error) {
	if s.UserID == "" || s.Method == "" {
		return "", Session{}, fmt.Errorf("session: a user and a login method are required")
	}
	now := st.now().UTC()
	s.CSRF = randomToken()
	s.CreatedAt, s.LastSeen, s.ExpiresAt = now, now, now.Add(st.opts.TTL)
	id := randomToken()
	data, err := json.Marshal(s)
	if err != nil {
		return "", Session{}, fmt.Errorf("session: encode: %w", err)
	}
	if _, err := st.kv.Create(ctx, key(id), data); err != nil {
		return "", Session{}, fmt.Errorf("session: create: %w", err)
	}
	return id, s, nil
}

// expired reports whether s may no longer be served at now.
func (st *Store) expired(s Session, now time.Time) bool {
	return !now.Before(s.ExpiresAt) || now.Sub(s.LastSeen) >= st.opts.Idle
}

// Get returns the live session with that ID and marks it used (the idle
// timer restarts; the write is skipped when the last one is recent). An
// expired session is removed, its device logged out, and ErrExpired
// returned.
func (st *Store) Get(ctx context.Context, id string) (Session, error) {
	if id == "" {
		return Session{}, ErrNotFound
	}
	s, rev, err := st.read(ctx, key(id))
	if err != nil {
		return Session{}, err
	}
	now := st.now().UTC()
	if st.expired(s, now) {
		st.end(ctx, key(id), s, rev)
		return Session{}, fmt.Errorf("%w: %s's session", ErrExpired, s.UserID)
	}
	if now.Sub(s.LastSeen) > min(st.opts.Idle/10, time.Minute) {
		s.LastSeen = now
		if data, err := json.Marshal(s); err == nil {
			// A lost race means another request touched it just now.
			if _, err := st.kv.Update(ctx, key(id), data, rev); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
				st.log.DebugContext(ctx, "session: touch failed", "user", s.UserID, "err", err)
			}
		}
	}
	return s, nil
}

// SetLang records the officer's language choice on the session.
func (st *Store) SetLang(ctx context.Context, id, lang string) error {
	s, rev, err := st.read(ctx, key(id))
	if err != nil {
		return err
	}
	s.Lang = lang
	data, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("session: encode: %w", err)
	}
	if _, err := st.kv.Update(ctx, key(id), data, rev); err != nil {
		return fmt.Errorf("session: set language: %w", err)
	}
	return nil
}

// Delete ends the session (logout): it logs the device out at the
// homeserver and removes the session. It returns the ended session;
// an unknown ID is ErrNotFound.
func (st *Store) Delete(ctx context.Context, id string) (Session, error) {
	s, rev, err := st.read(ctx, key(id))
	if err != nil {
		return Session{}, err
	}
	if err := st.logoutDevice(ctx, s); err != nil {
		st.log.WarnContext(ctx, "session: homeserver logout failed; the sweeper will not retry an ended session",
			"user", s.UserID, "device", s.DeviceID, "err", err)
	}
	if err := st.kv.Delete(ctx, key(id), jetstream.LastRevision(rev)); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return s, fmt.Errorf("session: delete: %w", err)
	}
	return s, nil
}

func (st *Store) read(ctx context.Context, k string) (Session, uint64, error) {
	e, err := st.kv.Get(ctx, k)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return Session{}, 0, ErrNotFound
	}
	if err != nil {
		return Session{}, 0, fmt.Errorf("session: get: %w", err)
	}
	var s Session
	if err := json.Unmarshal(e.Value(), &s); err != nil {
		return Session{}, 0, fmt.Errorf("session: decode: %w", err)
	}
	return s, e.Revision(), nil
}

func (st *Store) logoutDevice(ctx context.Context, s Session) error {
	if s.AccessToken == "" || s.Homeserver == "" || st.logout == nil {
		return nil
	}
	return st.logout.Logout(ctx, s.Homeserver, s.AccessToken)
}

// end logs an expired session's device out and removes the session. When
// the logout fails, the session stays (unservable) for the sweeper to
// retry until the bucket's backstop removes it.
func (st *Store) end(ctx context.Context, k string, s Session, rev uint64) bool {
	if err := st.logoutDevice(ctx, s); err != nil {
		st.log.WarnContext(ctx, "session: homeserver logout of an expired session failed; retrying later",
			"user", s.UserID, "device", s.DeviceID, "err", err)
		return false
	}
	if err := st.kv.Delete(ctx, k, jetstream.LastRevision(rev)); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		st.log.WarnContext(ctx, "session: removing an expired session failed", "user", s.UserID, "err", err)
		return false
	}
	st.log.InfoContext(ctx, "session expired and logged out", "user", s.UserID, "device", s.DeviceID)
	return true
}
