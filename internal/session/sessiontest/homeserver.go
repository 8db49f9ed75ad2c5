// Package sessiontest is a small Matrix homeserver for tests of the
// officers' login: it implements GET/POST /_matrix/client/v3/login
// (m.login.password and m.login.token), /logout, /account/whoami and the
// SSO redirect, on an httptest server. Only tests import it.
package sessiontest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// Homeserver is the stub. Its fields are safe to read with its methods
// while requests run.
type Homeserver struct {
	*httptest.Server
	// ServerName is the Matrix server name of its users ("example.org").
	ServerName string

	mu        sync.Mutex
	passwords map[string]string // localpart → password
	tokens    map[string]string // live access token → user ID
	loginTok  map[string]string // SSO login token → user ID
	loggedOut []string
	down      bool
	whoamis   int
	appserv   map[string]appService // application service token → its registration
	guests    map[string]bool       // guest access tokens
}

// appService is an application service's registration: its sender and
// the localpart prefix of the users it may act for.
type appService struct {
	sender, prefix string
}

// New starts a homeserver for serverName with the given localpart →
// password accounts; it stops when the test ends.
func New(t testing.TB, serverName string, passwords map[string]string) *Homeserver {
	hs := &Homeserver{ServerName: serverName, passwords: passwords, tokens: map[string]string{}, loginTok: map[string]string{},
		appserv: map[string]appService{}, guests: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_matrix/client/v3/login", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"flows": []map[string]string{
			{"type": "m.login.password"}, {"type": "m.login.sso"}, {"type": "m.login.token"}}})
	})
	mux.HandleFunc("POST /_matrix/client/v3/login", hs.login)
	mux.HandleFunc("POST /_matrix/client/v3/logout", hs.logout)
	mux.HandleFunc("GET /_matrix/client/v3/account/whoami", hs.whoami)
	mux.HandleFunc("GET /_matrix/client/v3/login/sso/redirect", hs.ssoRedirect)
	hs.Server = httptest.NewServer(hs.gate(mux))
	t.Cleanup(hs.Close)
	return hs
}

func (hs *Homeserver) gate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hs.mu.Lock()
		down := hs.down
		hs.mu.Unlock()
		if down {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// SetDown makes every request answer 503 (or serves again).
func (hs *Homeserver) SetDown(down bool) {
	hs.mu.Lock()
	hs.down = down
	hs.mu.Unlock()
}

// Token issues an access token for localpart directly (a client that
// logged in elsewhere) and returns it.
func (hs *Homeserver) Token(localpart string) string {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	tok := "syt_" + random()
	hs.tokens[tok] = "@" + localpart + ":" + hs.ServerName
	return tok
}

// Live reports whether the access token is still valid (not logged out).
func (hs *Homeserver) Live(token string) bool {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	_, ok := hs.tokens[token]
	return ok
}

// LiveDevices returns how many access tokens of user are still valid.
func (hs *Homeserver) LiveDevices(userID string) int {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	n := 0
	for _, u := range hs.tokens {
		if u == userID {
			n++
		}
	}
	return n
}

// LoggedOut returns the user IDs of every logout so far, in order.
func (hs *Homeserver) LoggedOut() []string {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return append([]string(nil), hs.loggedOut...)
}

func (hs *Homeserver) login(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Type       string `json:"type"`
		Identifier struct {
			User string `json:"user"`
		} `json:"identifier"`
		Password string `json:"password"`
		Token    string `json:"token"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSON(w, 400, map[string]string{"errcode": "M_NOT_JSON", "error": err.Error()})
		return
	}
	hs.mu.Lock()
	defer hs.mu.Unlock()
	var user string
	switch req.Type {
	case "m.login.password":
		local := strings.TrimPrefix(req.Identifier.User, "@")
		local, _, _ = strings.Cut(local, ":")
		if pw, ok := hs.passwords[local]; ok && pw == req.Password {
			user = "@" + local + ":" + hs.ServerName
		}
	case "m.login.token":
		user = hs.loginTok[req.Token]
		delete(hs.loginTok, req.Token)
	}
	if user == "" {
		writeJSON(w, 403, map[string]string{"errcode": "M_FORBIDDEN", "error": "Invalid username or password"})
		return
	}
	tok := "syt_" + random()
	hs.tokens[tok] = user
	writeJSON(w, 200, map[string]string{"user_id": user, "access_token": tok, "device_id": "DEV" + random()[:8]})
}

func (hs *Homeserver) logout(w http.ResponseWriter, r *http.Request) {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	hs.mu.Lock()
	defer hs.mu.Unlock()
	user, ok := hs.tokens[tok]
	if !ok {
		writeJSON(w, 401, map[string]string{"errcode": "M_UNKNOWN_TOKEN", "error": "unknown token"})
		return
	}
	delete(hs.tokens, tok)
	hs.loggedOut = append(hs.loggedOut, user)
	writeJSON(w, 200, map[string]string{})
}

// AppService registers an application service: it returns its token,
// whose own user is @sender, and which may act (whoami ?user_id=) for
// users whose localpart starts with prefix, as a homeserver's
// registration namespace allows.
func (hs *Homeserver) AppService(sender, prefix string) string {
	tok := hs.Token(sender)
	hs.mu.Lock()
	hs.appserv[tok] = appService{sender: "@" + sender + ":" + hs.ServerName, prefix: prefix}
	hs.mu.Unlock()
	return tok
}

// GuestToken issues a guest's access token (whoami answers is_guest).
func (hs *Homeserver) GuestToken(localpart string) string {
	tok := hs.Token(localpart)
	hs.mu.Lock()
	hs.guests[tok] = true
	hs.mu.Unlock()
	return tok
}

// WhoamiCalls returns how many whoami requests reached the homeserver.
func (hs *Homeserver) WhoamiCalls() int {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return hs.whoamis
}

func (hs *Homeserver) whoami(w http.ResponseWriter, r *http.Request) {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	hs.mu.Lock()
	hs.whoamis++
	user, ok := hs.tokens[tok]
	as, isAS := hs.appserv[tok]
	isGuest := hs.guests[tok]
	hs.mu.Unlock()
	if !ok {
		writeJSON(w, 401, map[string]string{"errcode": "M_UNKNOWN_TOKEN", "error": "unknown token"})
		return
	}
	// Identity assertion: only application services may act for another
	// user, and only for users in their namespace (or their sender); a
	// user's token is answered for itself, the parameter ignored.
	if asserted := r.URL.Query().Get("user_id"); isAS && asserted != "" {
		local, server, _ := strings.Cut(strings.TrimPrefix(asserted, "@"), ":")
		if asserted != as.sender && (server != hs.ServerName || !strings.HasPrefix(local, as.prefix)) {
			writeJSON(w, 403, map[string]string{"errcode": "M_FORBIDDEN", "error": "Application service cannot masquerade as this user"})
			return
		}
		user = asserted
	}
	writeJSON(w, 200, map[string]any{"user_id": user, "device_id": "DEV", "is_guest": isGuest})
}

// ssoRedirect stands for the identity provider: it logs in the user named
// by the sso_user query parameter (or "officer") at once and redirects
// back with a login token.
func (hs *Homeserver) ssoRedirect(w http.ResponseWriter, r *http.Request) {
	back, err := url.Parse(r.URL.Query().Get("redirectUrl"))
	if err != nil || back.Scheme == "" {
		http.Error(w, "bad redirectUrl", http.StatusBadRequest)
		return
	}
	local := r.URL.Query().Get("sso_user")
	if local == "" {
		local = "officer"
	}
	lt := "lt_" + random()
	hs.mu.Lock()
	hs.loginTok[lt] = "@" + local + ":" + hs.ServerName
	hs.mu.Unlock()
	q := back.Query()
	q.Set("loginToken", lt)
	back.RawQuery = q.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func random() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return hex.EncodeToString(b[:])
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // test server; the client may be gone
}
