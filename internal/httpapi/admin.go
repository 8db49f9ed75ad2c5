package httpapi

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediarepo/mediarepo/internal/audit"
	"github.com/mediarepo/mediarepo/internal/auth"
	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/httpapi/web"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/queue"
	"github.com/mediarepo/mediarepo/internal/review"
	"github.com/mediarepo/mediarepo/internal/session"
)

// Errors of the officers' routes.
var (
	// ErrNotOfficer: the authenticated user is not an officer (403).
	ErrNotOfficer = errors.New("not a security officer")
	// ErrNotAdmin: the action needs an administrator (403).
	ErrNotAdmin = errors.New("not an administrator")
	// ErrCSRF: a form without the session's CSRF token (403).
	ErrCSRF = errors.New("missing or wrong CSRF token")
)

// Review is what the officers' routes need of the review (review.Reviewer).
type Review interface {
	List(ctx context.Context, f review.Filter) (review.Page, error)
	Get(ctx context.Context, origin, id string) (review.Details, error)
	Release(ctx context.Context, q review.Request, origin, id string, liftHashBlock bool) (review.Result, error)
	Delete(ctx context.Context, q review.Request, origin, id string) (review.Result, error)
	Rescan(ctx context.Context, q review.Request, origin, id string) (review.Result, error)
	Quarantine(ctx context.Context, q review.Request, origin, id string) (review.Result, error)
	Sample(ctx context.Context, q review.Request, origin, id string) (media.Record, io.ReadCloser, error)
	QuarantineUploader(ctx context.Context, q review.Request, userID string) (review.Bulk, error)
	QuarantineHash(ctx context.Context, q review.Request, sha string) (review.Bulk, error)
	EraseUploader(ctx context.Context, q review.Request, userID string) (review.Bulk, error)
	ByUploader(ctx context.Context, userID string) ([]review.Entry, review.Usage, error)
	TopUsage(ctx context.Context, limit int) ([]review.Usage, error)
}

// AuditLog appends and lists audit entries (audit.Log).
type AuditLog interface {
	Append(ctx context.Context, e audit.Entry) (audit.Entry, error)
	List(ctx context.Context, f audit.Filter) (audit.Page, error)
}

// Sessions keeps the page's sessions (session.Store).
type Sessions interface {
	Create(ctx context.Context, s session.Session) (string, session.Session, error)
	Get(ctx context.Context, id string) (session.Session, error)
	Delete(ctx context.Context, id string) (session.Session, error)
	SetLang(ctx context.Context, id, lang string) error
	TTL() time.Duration
}

// Login logs officers in at the homeserver (session.Homeserver).
type Login interface {
	LoginPassword(ctx context.Context, base, user, password string) (session.Login, error)
	LoginToken(ctx context.Context, base, token string) (session.Login, error)
	Logout(ctx context.Context, base, accessToken string) error
}

// Login methods the page can offer.
const (
	LoginPassword = "password"
	LoginSSO      = "sso"
	// LoginToken: paste an access token checked by the Authenticator (the
	// embedded default's development token).
	LoginToken = "token"
)

// AdminOptions configure the officers' page and API.
type AdminOptions struct {
	// Officers and Admins are Matrix user IDs; admins are officers who may
	// also erase an uploader's media.
	Officers, Admins []string
	// Homeserver is the base URL officers log in at (password, SSO).
	Homeserver string
	// Hosts maps an HTTP Host (without port, lower case) to the served
	// server name it selects (server_names[].hosts): the admin listener's
	// Host picks whose homeserver checks an officer's token.
	Hosts map[string]string
	// LoginMethods offered on the page (LoginPassword, LoginSSO, LoginToken).
	LoginMethods []string
	// CookieSecure sets the Secure flag (and the __Host- cookie prefix);
	// false only for plain-HTTP localhost.
	CookieSecure bool
	// PublicURL is the page's external base URL for the SSO return
	// ("https://media-admin.example.org"); empty: from the request's Host.
	PublicURL string
	// TokenHint tells the login page where the development token is.
	TokenHint string
	// BodyDeadline bounds how long a form or JSON body may take to arrive
	// (they are a few KiB at most; default 10 s).
	BodyDeadline time.Duration
}

// AdminDeps are the parts the officers' routes use.
type AdminDeps struct {
	Review   Review
	Audit    AuditLog
	Sessions Sessions
	Login    Login
	// Daily gives the per-day counts of the list page's chart (nil: no chart).
	Daily Daily
	// Auth checks API bearer tokens and pasted tokens.
	Auth auth.Authenticator
	Log  *slog.Logger
	// Registerer takes the routes' metrics (prefixed "officers_").
	Registerer prometheus.Registerer
	// Backlog is the scan queue, shown on the list page (nil: not shown).
	Backlog ScanBacklog
	// Rescan is the progress of the rescan after a signature update,
	// shown on the list page (nil: not shown).
	Rescan RescanProgress
}

// RescanProgress reads the rescan's shared state (catalog.Rescans has it).
type RescanProgress interface {
	GetRescanState(ctx context.Context) (catalog.RescanState, uint64, error)
}

// ScanBacklog tells how many scans wait and run (queue.Queue has it): an
// import queues thousands at once, and officers see them drain.
type ScanBacklog interface {
	Stats(ctx context.Context) (queue.Stats, error)
}

// Admin serves the officers' page and API on the admin listener.
type Admin struct {
	deps   AdminDeps
	opts   AdminOptions
	obs    *API // request IDs, logs and metrics (observe)
	pages  map[string]*template.Template
	router *mux.Router
}

// NewAdmin builds the officers' handler.
func NewAdmin(deps AdminDeps, opts AdminOptions) (*Admin, error) {
	pages, err := web.Pages(templateFuncs)
	if err != nil {
		return nil, err
	}
	if opts.BodyDeadline <= 0 {
		opts.BodyDeadline = 10 * time.Second
	}
	if len(opts.LoginMethods) == 0 {
		opts.LoginMethods = []string{LoginPassword}
	}
	reg := deps.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	a := &Admin{deps: deps, opts: opts, pages: pages,
		obs: &API{log: deps.Log, metrics: newHTTPMetrics(prometheus.WrapRegistererWithPrefix("officers_", reg))}}
	a.router = a.routes()
	return a, nil
}

// ServeHTTP implements http.Handler.
func (a *Admin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	bodyDeadline(w, r, a.opts.BodyDeadline)
	a.router.ServeHTTP(w, r)
}

// Roles of officers.
const (
	roleOfficer = "officer"
	roleAdmin   = "admin"
)

// role returns the user's role, "" for everyone else.
func (a *Admin) role(user string) string {
	switch {
	case slices.Contains(a.opts.Admins, user):
		return roleAdmin
	case slices.Contains(a.opts.Officers, user):
		return roleOfficer
	}
	return ""
}

// officerServers are the server names of the configured officers.
func (a *Admin) officerServers() []string {
	var out []string
	for _, u := range append(append([]string{}, a.opts.Admins...), a.opts.Officers...) {
		if s := auth.UserServerName(u); s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// errWhichServer: with several officer servers, a token's server must be
// named (the admin listener's Host, or the server field/parameter).
var errWhichServer = fmt.Errorf("%w: several officer servers: choose one by the admin listener's Host or the server field", auth.ErrUnknownServer)

// tokenServer picks the one server name whose homeserver checks an
// officer's token: the one named explicitly (the login form's server
// field, the API's ?server=), else the one the admin listener's Host
// selects (server_names[].hosts), else the only officer server. A token is
// never tried at several homeservers: that would hand an officer's token
// of a.org to b.org's homeserver.
func (a *Admin) tokenServer(r *http.Request, explicit string) (string, error) {
	servers := a.officerServers()
	if explicit != "" {
		if !slices.Contains(servers, explicit) {
			return "", fmt.Errorf("%w: %s has no officers", auth.ErrUnknownServer, explicit)
		}
		return explicit, nil
	}
	host := strings.ToLower(r.Host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if s, ok := a.opts.Hosts[host]; ok && slices.Contains(servers, s) {
		return s, nil
	}
	if len(servers) == 1 {
		return servers[0], nil
	}
	return "", errWhichServer
}

// authenticate resolves a bearer or pasted token to an officer, asking
// only the homeserver of the server tokenServer picks.
func (a *Admin) authenticate(ctx context.Context, r *http.Request, explicit, token string) (string, error) {
	server, err := a.tokenServer(r, explicit)
	if err != nil {
		return "", err
	}
	user, err := a.deps.Auth.Authenticate(ctx, server, token)
	if err != nil {
		return "", err
	}
	if a.role(user) == "" {
		return user, ErrNotOfficer
	}
	return user, nil
}
