package session

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Errors of the homeserver login.
var (
	// ErrBadCredentials means the homeserver refused the login (wrong
	// password, expired SSO login token): 403 M_FORBIDDEN there.
	ErrBadCredentials = errors.New("session: the homeserver refused the login")
	// ErrHomeserver means the homeserver could not be asked or answered
	// something unexpected.
	ErrHomeserver = errors.New("session: homeserver unavailable")
)

// Homeserver logs officers in and out at a Matrix homeserver with the
// client-server API (POST /_matrix/client/v3/login and /logout).
type Homeserver struct {
	// Client does the requests; it must have a timeout.
	Client *http.Client
	// DeviceName is shown in the officer's device list ("mediarepo officers' page").
	DeviceName string
}

// Login is what a successful login returns.
type Login struct {
	UserID      string `json:"user_id"`
	AccessToken string `json:"access_token"`
	DeviceID    string `json:"device_id"`
}

// Flows returns the login types the homeserver offers ("m.login.password",
// "m.login.sso", "m.login.token").
func (h *Homeserver) Flows(ctx context.Context, base string) ([]string, error) {
	var resp struct {
		Flows []struct {
			Type string `json:"type"`
		} `json:"flows"`
	}
	if err := h.do(ctx, http.MethodGet, base, "/_matrix/client/v3/login", "", nil, &resp); err != nil {
		return nil, err
	}
	var out []string
	for _, f := range resp.Flows {
		out = append(out, f.Type)
	}
	return out, nil
}

// LoginPassword logs user (a localpart or a full user ID) in with
// m.login.password.
func (h *Homeserver) LoginPassword(ctx context.Context, base, user, password string) (Login, error) {
	return h.login(ctx, base, map[string]any{
		"type":       "m.login.password",
		"identifier": map[string]string{"type": "m.id.user", "user": user},
		"password":   password,
	})
}

// LoginToken exchanges the login token of an SSO round trip
// (m.login.token) for an access token.
func (h *Homeserver) LoginToken(ctx context.Context, base, token string) (Login, error) {
	return h.login(ctx, base, map[string]any{"type": "m.login.token", "token": token})
}

func (h *Homeserver) login(ctx context.Context, base string, body map[string]any) (Login, error) {
	name := h.DeviceName
	if name == "" {
		name = "mediarepo officers' page"
	}
	body["initial_device_display_name"] = name
	var l Login
	if err := h.do(ctx, http.MethodPost, base, "/_matrix/client/v3/login", "", body, &l); err != nil {
		return Login{}, err
	}
	if l.UserID == "" || l.AccessToken == "" {
		return Login{}, fmt.Errorf("%w: login answer without user_id or access_token", ErrHomeserver)
	}
	return l, nil
}

// Logout implements Logouter: POST /_matrix/client/v3/logout. A token the
// homeserver does not know (401) counts as logged out.
func (h *Homeserver) Logout(ctx context.Context, base, accessToken string) error {
	err := h.do(ctx, http.MethodPost, base, "/_matrix/client/v3/logout", accessToken, map[string]any{}, nil)
	if errors.Is(err, errUnauthorized) {
		return nil
	}
	return err
}

// SSORedirect returns the homeserver URL that starts single sign-on and
// comes back to redirectURL with ?loginToken=.
func SSORedirect(base, redirectURL string) string {
	return strings.TrimRight(base, "/") + "/_matrix/client/v3/login/sso/redirect?redirectUrl=" + url.QueryEscape(redirectURL)
}

var errUnauthorized = fmt.Errorf("%w: 401", ErrBadCredentials)

func (h *Homeserver) do(ctx context.Context, method, base, path, token string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(base, "/")+path, rd)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrHomeserver, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := h.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %s %s: %w", ErrHomeserver, method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%w: %s %s: %w", ErrHomeserver, method, path, err)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return errUnauthorized
	case resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusBadRequest:
		var e struct {
			ErrCode string `json:"errcode"`
		}
		_ = json.Unmarshal(data, &e) // the errcode is only for the message
		return fmt.Errorf("%w: %s", ErrBadCredentials, e.ErrCode)
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("%w: %s %s answered %d", ErrHomeserver, method, path, resp.StatusCode)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%w: %s %s: %w", ErrHomeserver, method, path, err)
	}
	return nil
}
