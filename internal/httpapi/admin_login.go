package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/mediarepo/mediarepo/internal/audit"
	"github.com/mediarepo/mediarepo/internal/session"
)

// Audit actions of logins.
const (
	actionLogin  = "login"
	actionLogout = "logout"
)

// Cookies of the login round trips. They hold random values only.
const (
	loginCSRFCookie = "mediarepo_login_csrf"
	ssoStateCookie  = "mediarepo_sso_state"
)

func randomValue() string {
	var b [24]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (a *Admin) offers(method string) bool { return slices.Contains(a.opts.LoginMethods, method) }

// loginPage shows the login forms. The login form's CSRF token is a
// double-submit cookie: there is no session yet to hold it.
func (a *Admin) loginPage(w http.ResponseWriter, r *http.Request) error {
	if pc, err := a.session(r); err == nil && pc.role != "" {
		http.Redirect(w, r, OfficersPrefix+"/", http.StatusSeeOther)
		return nil
	}
	a.showLogin(w, r, http.StatusOK, "")
	return nil
}

func (a *Admin) showLogin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	tok := randomValue()
	a.setCookie(w, loginCSRFCookie, tok, 3600, true)
	a.render(w, r, status, "login", nil, view{Title: "login_title", Error: msg, P: map[string]any{
		"CSRF": tok, "Password": a.offers(LoginPassword), "SSO": a.offers(LoginSSO), "Token": a.offers(LoginToken),
		"TokenHint": a.opts.TokenHint, "Expired": r.URL.Query().Get("expired") == "1"}})
}

// loginSubmit handles the password and token forms.
func (a *Admin) loginSubmit(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return ErrBadRequest
	}
	c, err := r.Cookie(loginCSRFCookie)
	if err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostForm.Get("csrf"))) != 1 {
		return ErrCSRF
	}
	t := translations(pickLang(r))
	var s session.Session
	switch method := r.PostForm.Get("method"); {
	case method == LoginPassword && a.offers(LoginPassword):
		l, err := a.deps.Login.LoginPassword(r.Context(), a.opts.Homeserver, strings.TrimSpace(r.PostForm.Get("user")), r.PostForm.Get("password"))
		if errors.Is(err, session.ErrBadCredentials) {
			a.showLogin(w, r, http.StatusForbidden, t["login_failed"])
			return nil
		}
		if err != nil {
			return err
		}
		s = session.Session{UserID: l.UserID, Method: session.MethodPassword, Homeserver: a.opts.Homeserver, AccessToken: l.AccessToken, DeviceID: l.DeviceID}
	case method == LoginToken && a.offers(LoginToken):
		user, err := a.authenticate(r.Context(), r, strings.TrimSpace(r.PostForm.Get("server")), strings.TrimSpace(r.PostForm.Get("token")))
		if err != nil && !errors.Is(err, ErrNotOfficer) {
			a.showLogin(w, r, http.StatusForbidden, t["login_failed"])
			return nil
		}
		s = session.Session{UserID: user, Method: session.MethodDevToken}
	default:
		return ErrBadRequest
	}
	return a.startSession(w, r, s, false)
}

// startSession admits an officer (anyone else is logged out again at
// once, so no device is left behind) and sets the session cookie.
// viaRedirect: the request came from another site (SSO), where a
// SameSite=Strict cookie would not be sent on an immediate redirect.
func (a *Admin) startSession(w http.ResponseWriter, r *http.Request, s session.Session, viaRedirect bool) error {
	ctx := r.Context()
	if a.role(s.UserID) == "" {
		a.appendAudit(ctx, auditEntry(r, actionLogin, s.UserID, audit.OutcomeFailed, "not an officer ("+s.Method+")"))
		if s.AccessToken != "" {
			if err := a.deps.Login.Logout(ctx, s.Homeserver, s.AccessToken); err != nil {
				a.deps.Log.Warn("logging a refused login out failed", "user", s.UserID, "err", err)
			}
		}
		return ErrNotOfficer
	}
	s.Lang = pickLang(r)
	id, _, err := a.deps.Sessions.Create(ctx, s)
	if err != nil {
		return err
	}
	a.appendAudit(ctx, auditEntry(r, actionLogin, s.UserID, audit.OutcomeChanged, s.Method))
	a.setCookie(w, a.sessionCookie(), id, int(a.deps.Sessions.TTL().Seconds()), true)
	a.setCookie(w, loginCSRFCookie, "", -1, true)
	if viaRedirect {
		a.render(w, r, http.StatusOK, "continue", nil, view{Title: "login_ok"})
		return nil
	}
	http.Redirect(w, r, OfficersPrefix+"/", http.StatusSeeOther)
	return nil
}

// appendAudit records a login event; a failure is logged (the login
// itself does not depend on it).
func (a *Admin) appendAudit(ctx context.Context, e audit.Entry) {
	if _, err := a.deps.Audit.Append(context.WithoutCancel(ctx), e); err != nil {
		a.deps.Log.Error("AUDIT WRITE FAILED for a login event", "action", e.Action, "user", e.Actor, "err", err)
	}
}

// publicBase is the page's external base URL.
func (a *Admin) publicBase(r *http.Request) string {
	if a.opts.PublicURL != "" {
		return strings.TrimRight(a.opts.PublicURL, "/")
	}
	scheme := "http"
	if a.opts.CookieSecure || r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// ssoStart sends the browser to the homeserver's SSO with a state value
// bound to a cookie (Lax: it must come back from the identity provider).
func (a *Admin) ssoStart(w http.ResponseWriter, r *http.Request) error {
	if !a.offers(LoginSSO) {
		return ErrUnrecognized
	}
	state := randomValue()
	a.setCookie(w, ssoStateCookie, state, 900, false)
	back := a.publicBase(r) + "/login/sso/callback?state=" + state
	http.Redirect(w, r, session.SSORedirect(a.opts.Homeserver, back), http.StatusFound)
	return nil
}

// ssoCallback exchanges the login token (m.login.token).
func (a *Admin) ssoCallback(w http.ResponseWriter, r *http.Request) error {
	if !a.offers(LoginSSO) {
		return ErrUnrecognized
	}
	q := r.URL.Query()
	c, err := r.Cookie(ssoStateCookie)
	if err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(q.Get("state"))) != 1 {
		return ErrCSRF
	}
	a.setCookie(w, ssoStateCookie, "", -1, false)
	l, err := a.deps.Login.LoginToken(r.Context(), a.opts.Homeserver, q.Get("loginToken"))
	if errors.Is(err, session.ErrBadCredentials) {
		a.showLogin(w, r, http.StatusForbidden, translations(pickLang(r))["login_failed"])
		return nil
	}
	if err != nil {
		return err
	}
	return a.startSession(w, r, session.Session{UserID: l.UserID, Method: session.MethodSSO, Homeserver: a.opts.Homeserver,
		AccessToken: l.AccessToken, DeviceID: l.DeviceID}, true)
}

// logout ends the session (the homeserver device is logged out too).
func (a *Admin) logout(w http.ResponseWriter, r *http.Request) error {
	pc, err := a.session(r)
	if err != nil {
		a.setCookie(w, a.sessionCookie(), "", -1, true)
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return nil
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil || !pc.sess.CheckCSRF(r.PostForm.Get("csrf")) {
		return ErrCSRF
	}
	if _, err := a.deps.Sessions.Delete(r.Context(), pc.sid); err != nil && !errors.Is(err, session.ErrNotFound) {
		return err
	}
	a.appendAudit(r.Context(), auditEntry(r, actionLogout, pc.user, audit.OutcomeChanged, pc.sess.Method))
	a.setCookie(w, a.sessionCookie(), "", -1, true)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}
