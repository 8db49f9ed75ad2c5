package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Officers configures the security officers' review (admin listener):
// who may use it and how they log in to its web page.
type Officers struct {
	// Users are the Matrix user IDs of security officers.
	Users []string `yaml:"users"`
	// Admins are officers who may also erase all media of an uploader (a
	// data-protection request). They need not be listed in Users.
	Admins []string `yaml:"admins"`
	// Homeserver is the base URL officers log in at (password or SSO);
	// default: the first server name's homeserver.
	Homeserver string `yaml:"homeserver"`
	// LoginMethods the page offers: "password" (m.login.password), "sso"
	// (the homeserver's single sign-on, then m.login.token) and "token"
	// (paste an access token, checked like an API token; the embedded
	// default's development token). Default: password
	// and sso; in the embedded default: token.
	LoginMethods []string `yaml:"login_methods"`
	// CookieSecure sets the session cookie's Secure flag. Default true;
	// false only for plain-HTTP localhost (the embedded default).
	CookieSecure *bool `yaml:"cookie_secure"`
	// PublicURL is the page's external base URL, needed for the SSO
	// return address behind a proxy; default: the request's Host.
	PublicURL string `yaml:"public_url"`
	// SessionTTL is the absolute lifetime of a login (default 8h).
	SessionTTL Duration `yaml:"session_ttl"`
	// IdleTimeout ends a session that was not used for this long
	// (default 30m).
	IdleTimeout Duration `yaml:"idle_timeout"`
}

// OfficerLoginMethods are the valid values of officers.login_methods.
var OfficerLoginMethods = []string{"password", "sso", "token"}

// Resolved returns the settings with their defaults applied for cfg:
// login methods, homeserver, cookie flag, TTLs.
func (o Officers) Resolved(cfg Config) Officers {
	if len(o.LoginMethods) == 0 {
		o.LoginMethods = []string{"password", "sso"}
		if cfg.Auth.Mode == "static" {
			o.LoginMethods = []string{"token"}
		}
	}
	if o.Homeserver == "" && len(cfg.Servers) > 0 {
		o.Homeserver = cfg.Servers[0].Homeserver
	}
	if o.CookieSecure == nil {
		secure := !cfg.Embedded
		o.CookieSecure = &secure
	}
	if o.SessionTTL == 0 {
		o.SessionTTL = Duration(8 * time.Hour)
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = Duration(30 * time.Minute)
	}
	return o
}

// validate reports the problems of the officers' settings.
func (o Officers) validate() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for _, list := range []struct {
		name  string
		users []string
	}{{"users", o.Users}, {"admins", o.Admins}} {
		for i, u := range list.users {
			local, server, ok := strings.Cut(strings.TrimPrefix(u, "@"), ":")
			if !strings.HasPrefix(u, "@") || !ok || local == "" || server == "" {
				bad("officers.%s[%d]: %q is not a Matrix user ID (@name:server)", list.name, i, u)
			}
		}
	}
	for i, m := range o.LoginMethods {
		known := false
		for _, k := range OfficerLoginMethods {
			known = known || m == k
		}
		if !known {
			bad("officers.login_methods[%d]: %q is not one of %v", i, m, OfficerLoginMethods)
		}
	}
	for _, u := range []struct{ name, value string }{{"homeserver", o.Homeserver}, {"public_url", o.PublicURL}} {
		if u.value == "" {
			continue
		}
		if p, err := url.Parse(u.value); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			bad("officers.%s: %q is not an http(s) URL", u.name, u.value)
		}
	}
	if o.SessionTTL < 0 || o.IdleTimeout < 0 {
		bad("officers: session_ttl and idle_timeout must be ≥ 0")
	}
	if o.SessionTTL > 0 && o.IdleTimeout > o.SessionTTL {
		bad("officers.idle_timeout: %s is longer than session_ttl %s", o.IdleTimeout.D(), o.SessionTTL.D())
	}
	return errs
}
