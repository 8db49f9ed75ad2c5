package httpapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/mediarepo/mediarepo/internal/auth"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/service"
)

var errQueryToken = fmt.Errorf("%w: access tokens in the query string are not accepted; send Authorization: Bearer", auth.ErrMissingToken)

// upload answers POST /_matrix/media/v3/upload.
func (a *API) upload(w http.ResponseWriter, r *http.Request) error {
	up, err := a.uploadRequest(w, r)
	if err != nil {
		return err
	}
	rec, err := a.media.Upload(r.Context(), up)
	if err != nil {
		return bodyError(up.Body, err)
	}
	writeJSON(w, http.StatusOK, map[string]string{"content_uri": rec.MXC()})
	return nil
}

// create answers POST /_matrix/media/v1/create.
func (a *API) create(w http.ResponseWriter, r *http.Request) error {
	if guest(r.Context()) && !a.opts.GuestUploads {
		return errGuestUpload
	}
	user := userID(r.Context())
	if err := a.uploads.allow(user); err != nil {
		return err
	}
	rec, err := a.media.Create(r.Context(), origin(r), user)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"content_uri": rec.MXC(), "unused_expires_at": rec.ExpiresAt.UnixMilli()})
	return nil
}

// uploadTo answers PUT /_matrix/media/v3/upload/{serverName}/{mediaId}.
func (a *API) uploadTo(w http.ResponseWriter, r *http.Request) error {
	server, id, err := pathMedia(r)
	if err != nil {
		return err
	}
	if server != origin(r) {
		return fmt.Errorf("%w: media of %s cannot be uploaded here", media.ErrNotFound, server)
	}
	up, err := a.uploadRequest(w, r)
	if err != nil {
		return err
	}
	if _, err := a.media.UploadTo(r.Context(), id, up); err != nil {
		return bodyError(up.Body, err)
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

// uploadRequest checks the rate limit and wraps the body for streaming.
func (a *API) uploadRequest(w http.ResponseWriter, r *http.Request) (service.Upload, error) {
	if guest(r.Context()) && !a.opts.GuestUploads {
		return service.Upload{}, errGuestUpload
	}
	user := userID(r.Context())
	if err := a.uploads.allow(user); err != nil {
		return service.Upload{}, err
	}
	ctype := r.Header.Get("Content-Type")
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	body := &minRateBody{ReadCloser: r.Body, rc: http.NewResponseController(w),
		min: a.opts.MinBodyRate, grace: a.opts.BodyGrace, start: time.Now()}
	return service.Upload{Origin: origin(r), Uploader: user, Filename: r.URL.Query().Get("filename"),
		DeclaredType: ctype, Body: body, ContentLength: r.ContentLength}, nil
}

// config answers GET /_matrix/client/v1/media/config.
func (a *API) config(w http.ResponseWriter, r *http.Request) error {
	cfg := map[string]int64{"m.upload.size": a.media.MaxUploadSize()}
	_, limit, err := a.media.Usage(r.Context(), userID(r.Context()))
	if err != nil {
		return err
	}
	// MSC4034: the user's storage limits, stable and unstable names.
	if limit.Bytes > 0 {
		cfg["m.storage.size"], cfg["org.matrix.msc4034.storage.size"] = limit.Bytes, limit.Bytes
	}
	if limit.Files > 0 {
		cfg["m.storage.max_files"], cfg["org.matrix.msc4034.storage.max_files"] = limit.Files, limit.Files
	}
	writeJSON(w, http.StatusOK, cfg)
	return nil
}

// download answers the authenticated client download.
func (a *API) download(w http.ResponseWriter, r *http.Request) error {
	if err := a.downloads.allow(userID(r.Context())); err != nil {
		return err
	}
	wait, err := a.waitParam(r)
	if err != nil {
		return err
	}
	return a.serveMedia(w, r, wait, time.Time{})
}

// legacyDownload answers the deprecated unauthenticated download; media
// uploaded after the configured freeze is not served there.
func (a *API) legacyDownload(w http.ResponseWriter, r *http.Request) error {
	wait, err := a.waitParam(r)
	if err != nil {
		return err
	}
	if err := a.legacyAllowed(r); err != nil {
		return err
	}
	return a.serveMedia(w, r, wait, a.opts.LegacyFreeze)
}

// errLegacyRefused: what the unauthenticated legacy endpoints do not serve.
var errLegacyRefused = fmt.Errorf("%w: only served on the authenticated endpoints (/_matrix/client/v1/media)", media.ErrNotFound)

// legacyAllowed decides, from the path and one catalog read, whether the
// unauthenticated legacy endpoints may serve the media at all, before
// anything costly (a federation fetch, a wait for a verdict, a
// thumbnail): never media of other servers (fetching it for anyone
// without a token would make this an open proxy), never media created
// after the freeze, never media this server does not have.
func (a *API) legacyAllowed(r *http.Request) error {
	server, id, err := pathMedia(r)
	if err != nil {
		return err
	}
	if !a.local[server] {
		return errLegacyRefused
	}
	if a.opts.LegacyFreeze.IsZero() {
		return nil
	}
	rec, err := a.media.Lookup(r.Context(), server, id)
	if err != nil {
		return err
	}
	if rec.CreatedAt.After(a.opts.LegacyFreeze) {
		return errLegacyRefused
	}
	return nil
}

// serveMedia looks the media up, waits for its verdict up to wait and
// streams it with the media headers.
func (a *API) serveMedia(w http.ResponseWriter, r *http.Request, wait time.Duration, freeze time.Time) error {
	setSecurityHeaders(w.Header())
	server, id, err := pathMedia(r)
	if err != nil {
		return err
	}
	rec, err := a.media.Download(r.Context(), server, id, wait)
	if err != nil {
		return err
	}
	if !freeze.IsZero() && rec.CreatedAt.After(freeze) {
		return fmt.Errorf("%w: media after the legacy freeze is only served on the authenticated endpoints", media.ErrNotFound)
	}
	filename := rec.Filename
	if name, ok := mux.Vars(r)["fileName"]; ok {
		if filename, err = url.PathUnescape(name); err != nil {
			return fmt.Errorf("%w: fileName: %v", ErrBadRequest, err)
		}
	}
	ctype := rec.DeclaredType
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	return a.stream(w, r, rec, ctype, filename)
}

// stream sends the content of servable media with its headers, a single
// Range and ETag support.
func (a *API) stream(w http.ResponseWriter, r *http.Request, rec media.Record, ctype, filename string) error {
	return a.send(w, r, rec, ctype, filename, func(ctx context.Context, off, n int64) (io.ReadCloser, error) {
		return a.media.Open(ctx, rec, off, n)
	})
}

// send writes the headers for content of rec.Size bytes identified by
// rec.SHA256 and streams what open returns, honouring Range, HEAD and
// If-None-Match.
func (a *API) send(w http.ResponseWriter, r *http.Request, rec media.Record, ctype, filename string,
	open func(ctx context.Context, off, n int64) (io.ReadCloser, error)) error {
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Disposition", contentDisposition(ctype, filename))
	h.Set("ETag", `"`+rec.SHA256+`"`)
	h.Set("Accept-Ranges", "bytes")
	if etagMatch(r.Header.Get("If-None-Match"), rec.SHA256) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	off, length, partial, err := parseRange(r.Header.Get("Range"), rec.Size)
	if err != nil {
		h.Set("Content-Range", "bytes */"+strconv.FormatInt(rec.Size, 10))
		return err
	}
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	status := http.StatusOK
	if partial {
		status = http.StatusPartialContent
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, off+length-1, rec.Size))
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return nil
	}
	body, err := open(r.Context(), off, length)
	if err != nil {
		return err
	}
	defer body.Close()
	w.WriteHeader(status)
	if err := a.copyBufs.copyWithDeadlines(w, body, length); err != nil {
		// Headers are out: all we can do is cut the connection short, so
		// the client sees a truncated body rather than a complete one.
		if r.Context().Err() == nil {
			a.log.Warn("download interrupted", "request_id", requestID(r.Context()), "media", rec.MXC(), "err", err)
		}
		panic(http.ErrAbortHandler)
	}
	return nil
}

// pathMedia validates {serverName} and {mediaId} before any lookup.
func pathMedia(r *http.Request) (string, string, error) {
	v := mux.Vars(r)
	server, err := url.PathUnescape(v["serverName"])
	if err != nil {
		return "", "", fmt.Errorf("%w: %v", media.ErrInvalidServerName, err)
	}
	if err := media.ValidateServerName(server); err != nil {
		return "", "", err
	}
	id := v["mediaId"]
	if err := media.ValidateMediaID(id); err != nil {
		return "", "", err
	}
	return server, id, nil
}

// waitParam reads timeout_ms (default DefaultWait, capped at MaxWait).
func (a *API) waitParam(r *http.Request) (time.Duration, error) {
	s := r.URL.Query().Get("timeout_ms")
	if s == "" {
		return min(a.opts.DefaultWait, a.opts.MaxWait), nil
	}
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms < 0 {
		return 0, fmt.Errorf("%w: timeout_ms must be a non-negative integer", ErrBadRequest)
	}
	return min(time.Duration(ms)*time.Millisecond, a.opts.MaxWait), nil
}
