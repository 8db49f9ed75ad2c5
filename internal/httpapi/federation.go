package httpapi

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediarepo/mediarepo/internal/federation"
	"github.com/mediarepo/mediarepo/internal/media"
)

// FederationPrefix is the path prefix the federation handler serves; the
// homeserver's reverse proxy routes /_matrix/federation/v1/media/ here.
const FederationPrefix = "/_matrix/federation/"

// FederationMedia is what the federation routes need of the media flows.
type FederationMedia interface {
	Download(ctx context.Context, origin, id string, wait time.Duration) (media.Record, error)
	Open(ctx context.Context, rec media.Record, offset, length int64) (io.ReadCloser, error)
}

// FederationAuth authenticates X-Matrix signed requests
// (federation.Verifier): errors wrap federation.ErrUnauthorized or
// federation.ErrPeerNotAllowed.
type FederationAuth interface {
	Verify(r *http.Request, host string) (federation.Peer, error)
}

// FederationOptions configure the federation routes.
type FederationOptions struct {
	// DefaultServer is the served name assumed when a request's X-Matrix
	// header names no destination ("" with several served names: such
	// requests are refused).
	DefaultServer string
	// DefaultWait and MaxWait bound timeout_ms.
	DefaultWait, MaxWait time.Duration
	// Thumbnails serves /thumbnail (nil: 404).
	Thumbnails Thumbnails
}

// Federation serves GET /_matrix/federation/v1/media/download/{mediaId}:
// only local, clean media, to verified peers on the allow-list, as
// multipart/mixed with exactly two parts (JSON {}, then the bytes).
// and GET .../thumbnail/{mediaId} alike.
type Federation struct {
	media    FederationMedia
	auth     FederationAuth
	opts     FederationOptions
	log      *slog.Logger
	requests *prometheus.CounterVec
	router   *mux.Router
}

// NewFederation builds the federation handler.
func NewFederation(m FederationMedia, a FederationAuth, opts FederationOptions, log *slog.Logger, reg prometheus.Registerer) *Federation {
	f := &Federation{media: m, auth: a, opts: opts, log: log,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediarepo_federation_requests_total", Help: "Federation media requests served, by status code.",
		}, []string{"code"})}
	reg.MustRegister(f.requests)
	r := mux.NewRouter()
	r.UseEncodedPath()
	r.Handle("/_matrix/federation/v1/media/download/{mediaId}", f.handle(f.download)).Methods(http.MethodGet)
	r.Handle("/_matrix/federation/v1/media/thumbnail/{mediaId}", f.handle(f.thumbnail)).Methods(http.MethodGet)
	r.NotFoundHandler = f.handle(func(http.ResponseWriter, *http.Request) error { return ErrUnrecognized })
	r.MethodNotAllowedHandler = f.handle(func(http.ResponseWriter, *http.Request) error { return errMethod })
	f.router = r
	return f
}

// ServeHTTP implements http.Handler.
func (f *Federation) ServeHTTP(w http.ResponseWriter, r *http.Request) { f.router.ServeHTTP(w, r) }

// handle runs h, answers its error through the one error table and counts.
func (f *Federation) handle(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			f.requests.WithLabelValues(strconv.Itoa(lookup(err).status)).Inc()
			if lookup(err).status < 500 {
				f.log.Info("federation request refused", "path", r.URL.Path, "err", err)
			}
			writeError(w, r, f.log, err)
			return
		}
		f.requests.WithLabelValues("200").Inc()
	})
}

// request verifies the peer and reads the media ID and timeout_ms.
func (f *Federation) request(r *http.Request) (federation.Peer, string, time.Duration, error) {
	peer, err := f.auth.Verify(r, f.opts.DefaultServer)
	if err != nil {
		return federation.Peer{}, "", 0, err
	}
	id := mux.Vars(r)["mediaId"]
	if err := media.ValidateMediaID(id); err != nil {
		return federation.Peer{}, "", 0, err
	}
	wait := min(f.opts.DefaultWait, f.opts.MaxWait)
	if s := r.URL.Query().Get("timeout_ms"); s != "" {
		ms, err := strconv.ParseInt(s, 10, 64)
		if err != nil || ms < 0 {
			return federation.Peer{}, "", 0, fmt.Errorf("%w: timeout_ms must be a non-negative integer", ErrBadRequest)
		}
		wait = min(time.Duration(ms)*time.Millisecond, f.opts.MaxWait)
	}
	return peer, id, wait, nil
}

// download answers GET /_matrix/federation/v1/media/download/{mediaId}.
func (f *Federation) download(w http.ResponseWriter, r *http.Request) error {
	peer, id, wait, err := f.request(r)
	if err != nil {
		return err
	}
	rec, err := f.media.Download(r.Context(), peer.Destination, id, wait)
	if err != nil {
		return err
	}
	ctype := rec.DeclaredType
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	return f.serve(w, r, peer, rec, ctype, rec.Filename, func(ctx context.Context) (io.ReadCloser, error) {
		return f.media.Open(ctx, rec, 0, -1)
	})
}

// thumbnail answers GET /_matrix/federation/v1/media/thumbnail/{mediaId}.
func (f *Federation) thumbnail(w http.ResponseWriter, r *http.Request) error {
	peer, id, wait, err := f.request(r)
	if err != nil {
		return err
	}
	req, err := thumbnailRequest(r)
	if err != nil {
		return err
	}
	if f.opts.Thumbnails == nil {
		return fmt.Errorf("%w: thumbnails are not configured", media.ErrNotFound)
	}
	th, err := f.opts.Thumbnails.Get(r.Context(), peer.Destination, id, req, wait)
	if err != nil {
		return err
	}
	return f.serve(w, r, peer, th.Record, th.ContentType, "thumbnail", func(ctx context.Context) (io.ReadCloser, error) {
		return f.opts.Thumbnails.Open(ctx, th, 0, -1)
	})
}

// serve answers with local media as multipart/mixed: JSON {}, then the
// bytes that open returns.
func (f *Federation) serve(w http.ResponseWriter, r *http.Request, peer federation.Peer, rec media.Record, ctype, filename string,
	open func(context.Context) (io.ReadCloser, error)) error {
	if rec.Remote {
		// Cached media of a third server is never served on its behalf.
		return fmt.Errorf("%w: %s is not local media", media.ErrNotFound, rec.MXC())
	}
	body, err := open(r.Context())
	if err != nil {
		return err
	}
	defer body.Close()
	mw := federation.NewMultipartWriter(w)
	w.Header().Set("Content-Type", mw.ContentType())
	w.Header().Set("Cache-Control", "private")
	w.WriteHeader(http.StatusOK)
	if err := mw.WriteMedia(ctype, contentDisposition(ctype, filename), &deadlineReader{r: body, rc: http.NewResponseController(w)}); err != nil {
		if r.Context().Err() == nil {
			f.log.Warn("federation answer interrupted", "media", rec.MXC(), "peer", peer.Origin, "err", err)
		}
		panic(http.ErrAbortHandler) // headers are out: cut the answer short
	}
	f.log.Info("media served over federation", "media", rec.MXC(), "peer", peer.Origin, "path", r.URL.Path)
	return nil
}

// deadlineReader extends the response's write deadline before each chunk
// it hands to the multipart writer, so a stalled peer is cut off.
type deadlineReader struct {
	r  io.Reader
	rc *http.ResponseController
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	_ = d.rc.SetWriteDeadline(time.Now().Add(writeStall)) // not every writer supports deadlines
	return d.r.Read(p)
}
