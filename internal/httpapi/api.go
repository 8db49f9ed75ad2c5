package httpapi

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediarepo/mediarepo/internal/auth"
	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/service"
)

// Media is what the Matrix media routes need of the upload/download flows.
type Media interface {
	Upload(ctx context.Context, up service.Upload) (media.Record, error)
	Create(ctx context.Context, origin, uploader string) (media.Record, error)
	UploadTo(ctx context.Context, id string, up service.Upload) (media.Record, error)
	Download(ctx context.Context, origin, id string, wait time.Duration) (media.Record, error)
	// Lookup returns the stored record without fetching, waiting or
	// judging its state (a cheap check before any work).
	Lookup(ctx context.Context, origin, id string) (media.Record, error)
	Open(ctx context.Context, rec media.Record, offset, length int64) (io.ReadCloser, error)
	MaxUploadSize() int64
	// Usage returns a user's storage usage and limits (zero: unlimited).
	Usage(ctx context.Context, userID string) (used, limit catalog.Usage, err error)
}

// Options configure the public API.
type Options struct {
	// Hosts maps an HTTP Host (with or without port) to the served server
	// name it selects.
	Hosts map[string]string
	// DefaultServer is used when the Host matches nothing and exactly one
	// server name is served ("" otherwise: such requests are refused).
	DefaultServer string
	// DefaultWait and MaxWait bound timeout_ms of downloads.
	DefaultWait, MaxWait time.Duration
	// LegacyFreeze: media uploaded after it is not served on the
	// unauthenticated legacy download (zero: no freeze).
	LegacyFreeze time.Time
	// MinBodyRate (bytes/s) and BodyGrace cut off slow upload bodies.
	MinBodyRate int64
	BodyGrace   time.Duration
	// Thumbnails generates thumbnails of clean images (nil: 404).
	Thumbnails Thumbnails
	// Scanner wires Element's content-scanner API.
	Scanner ScannerOptions
	// Upload and download rate limits per user.
	UploadsPerSecond, DownloadsPerSecond float64
	UploadBurst, DownloadBurst           int
	// ClientAddrs finds a request's client address (behind trusted proxies).
	ClientAddrs ClientAddrs
	// UnauthenticatedPerSecond and UnauthenticatedBurst limit the routes
	// that need no token, per client address (0: 10/s, burst 20).
	UnauthenticatedPerSecond float64
	UnauthenticatedBurst     int
	// FailedAuthPerSecond and FailedAuthBurst limit failed token checks
	// per client address (0: 1/s, burst 10).
	FailedAuthPerSecond float64
	FailedAuthBurst     int
	// Previews builds URL previews (nil: url_preview off, 404).
	Previews Previewer
	// PreviewsPerSecond and PreviewBurst limit previews per user.
	PreviewsPerSecond float64
	PreviewBurst      int
	// ScansPerSecond and ScanBurst limit each user's content-scanner scan
	// requests; MaxConcurrentScans bounds checks in flight (0: 2/s, burst
	// 20, 8 at once).
	ScansPerSecond     float64
	ScanBurst          int
	MaxConcurrentScans int
	// GuestUploads lets guest accounts upload (default: they may only
	// download, MSC4189).
	GuestUploads bool
}

// API is the public HTTP handler.
type API struct {
	media Media
	// copyBufs are the download copy buffers reused between requests.
	copyBufs  copyBuffers
	auth      auth.Authenticator
	opts      Options
	log       *slog.Logger
	metrics   *httpMetrics
	uploads   *limiters
	downloads *limiters
	// unauth limits routes without a token per client address.
	unauth *AddrLimiter
	// failedAuth counts failed token checks per client address.
	failedAuth *AddrLimiter
	// scans limits the content scanner's scan routes.
	scans *scanGate
	// local are the served server names (the Hosts' values).
	local map[string]bool
	// anonymous limits token-less content-scanner requests per client
	// address (content_scanner.allow_unauthenticated).
	anonymous *AddrLimiter
	previews  *limiters
	router    *mux.Router
}

// New builds the public API's handler.
func New(m Media, a auth.Authenticator, opts Options, log *slog.Logger, reg prometheus.Registerer) *API {
	if opts.BodyGrace <= 0 {
		opts.BodyGrace = 10 * time.Second
	}
	if opts.UnauthenticatedPerSecond <= 0 || opts.UnauthenticatedBurst < 1 {
		opts.UnauthenticatedPerSecond, opts.UnauthenticatedBurst = 10, 20
	}
	if opts.FailedAuthPerSecond <= 0 || opts.FailedAuthBurst < 1 {
		opts.FailedAuthPerSecond, opts.FailedAuthBurst = 1, 10
	}
	api := &API{media: m, auth: a, opts: opts, log: log, metrics: newHTTPMetrics(reg),
		failedAuth: NewAddrLimiter(opts.ClientAddrs, opts.FailedAuthPerSecond, opts.FailedAuthBurst),
		uploads:    newLimiters(opts.UploadsPerSecond, opts.UploadBurst),
		downloads:  newLimiters(opts.DownloadsPerSecond, opts.DownloadBurst),
		unauth:     NewAddrLimiter(opts.ClientAddrs, opts.UnauthenticatedPerSecond, opts.UnauthenticatedBurst),
		anonymous:  NewAddrLimiter(opts.ClientAddrs, opts.Scanner.AnonymousPerSecond, opts.Scanner.AnonymousBurst),
		previews:   newLimiters(opts.PreviewsPerSecond, opts.PreviewBurst),
		scans:      newScanGate(opts.ScansPerSecond, opts.ScanBurst, opts.MaxConcurrentScans),
		local:      map[string]bool{}}
	for _, name := range opts.Hosts {
		api.local[name] = true
	}
	if opts.DefaultServer != "" {
		api.local[opts.DefaultServer] = true
	}
	api.router = api.routes()
	return api
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.router.ServeHTTP(w, r) }

// handlerFunc is a handler that returns its error for the one error writer.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// route describes one endpoint; the OpenAPI test walks this list.
type route struct {
	name    string
	path    string
	methods []string
	auth    bool
	h       handlerFunc
}

func (a *API) routeTable() []route {
	return append([]route{
		{"upload", "/_matrix/media/v3/upload", []string{"POST"}, true, a.upload},
		{"create", "/_matrix/media/v1/create", []string{"POST"}, true, a.create},
		{"upload_async", "/_matrix/media/v3/upload/{serverName}/{mediaId}", []string{"PUT"}, true, a.uploadTo},
		{"download", "/_matrix/client/v1/media/download/{serverName}/{mediaId}", []string{"GET", "HEAD"}, true, a.download},
		{"download_named", "/_matrix/client/v1/media/download/{serverName}/{mediaId}/{fileName}", []string{"GET", "HEAD"}, true, a.download},
		{"config", "/_matrix/client/v1/media/config", []string{"GET"}, true, a.config},
		{"legacy_config", "/_matrix/media/v3/config", []string{"GET"}, true, a.config},
		{"legacy_download", "/_matrix/media/v3/download/{serverName}/{mediaId}", []string{"GET", "HEAD"}, false, a.legacyDownload},
		{"legacy_download_named", "/_matrix/media/v3/download/{serverName}/{mediaId}/{fileName}", []string{"GET", "HEAD"}, false, a.legacyDownload},
	}, append(append(append(a.scannerRoutes(), a.thumbnailRoutes()...), a.previewRoutes()...), a.usageRoutes()...)...)
}

func (a *API) routes() *mux.Router {
	r := mux.NewRouter()
	r.UseEncodedPath()
	for _, rt := range a.routeTable() {
		r.Handle(rt.path, a.observe(rt.name, a.wrap(rt))).Methods(append(rt.methods, http.MethodOptions)...)
	}
	r.NotFoundHandler = a.observe("unrecognized", a.wrap(route{h: func(w http.ResponseWriter, r *http.Request) error { return ErrUnrecognized }}))
	r.MethodNotAllowedHandler = a.observe("unrecognized", a.wrap(route{h: func(w http.ResponseWriter, r *http.Request) error { return errMethod }}))
	return r
}

// wrap adds CORS, the server-name choice, authentication and the error
// writer around a route's handler.
func (a *API) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, DELETE, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "X-Requested-With, Content-Type, Authorization")
		if r.Method == http.MethodOptions && rt.h != nil && rt.name != "" {
			w.WriteHeader(http.StatusOK)
			return
		}
		err := func() error {
			if r.URL.Query().Has("access_token") {
				return errQueryToken
			}
			if rt.name != "upload" && rt.name != "upload_async" { // uploads have their minimum rate
				bodyDeadline(w, r, a.opts.BodyGrace)
			}
			ctx := r.Context()
			if server := a.serverName(r.Host); server != "" {
				ctx = context.WithValue(ctx, keyServer, server)
			}
			if !rt.auth {
				if err := a.unauth.Allow(r); err != nil {
					return err
				}
			} else {
				server, _ := ctx.Value(keyServer).(string)
				if server == "" {
					return auth.ErrUnknownServer
				}
				actx, anonymous, err := a.admitAnonymous(r, ctx, rt)
				if err != nil {
					return err
				}
				if anonymous {
					return rt.h(w, r.WithContext(actx))
				}
				tok, err := auth.BearerToken(r.Header.Get("Authorization"))
				if err != nil {
					return err
				}
				id, err := a.authenticate(ctx, r, server, tok)
				if err != nil {
					return err
				}
				ctx = context.WithValue(context.WithValue(ctx, keyUser, id.UserID), keyGuest, id.Guest)
			}
			return rt.h(w, r.WithContext(ctx))
		}()
		switch {
		case err == nil:
		case isScannerRoute(r.URL.Path):
			writeMCSError(w, r, a, err)
		default:
			writeError(w, r, a.log, err)
		}
	})
}

// serverName picks the served server name from the Host header.
func (a *API) serverName(host string) string {
	host = strings.ToLower(host)
	if s, ok := a.opts.Hosts[host]; ok {
		return s
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		if s, ok := a.opts.Hosts[h]; ok {
			return s
		}
	}
	return a.opts.DefaultServer
}

// origin returns the request's served server name.
func origin(r *http.Request) string {
	s, _ := r.Context().Value(keyServer).(string)
	return s
}
