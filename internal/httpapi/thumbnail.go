package httpapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/service"
	"github.com/mediarepo/mediarepo/internal/thumbnail"
)

// Thumbnails is the thumbnail flow (service.Thumbnails).
type Thumbnails interface {
	Get(ctx context.Context, origin, id string, req thumbnail.Request, wait time.Duration) (service.Thumb, error)
	Open(ctx context.Context, th service.Thumb, offset, length int64) (io.ReadCloser, error)
}

func (a *API) thumbnailRoutes() []route {
	return []route{
		{"thumbnail", "/_matrix/client/v1/media/thumbnail/{serverName}/{mediaId}", []string{"GET", "HEAD"}, true, a.thumbnail},
		{"legacy_thumbnail", "/_matrix/media/v3/thumbnail/{serverName}/{mediaId}", []string{"GET", "HEAD"}, false, a.legacyThumbnail},
	}
}

// thumbnail answers the authenticated client thumbnail.
func (a *API) thumbnail(w http.ResponseWriter, r *http.Request) error {
	if err := a.downloads.allow(userID(r.Context())); err != nil {
		return err
	}
	wait, err := a.waitParam(r)
	if err != nil {
		return err
	}
	return a.serveThumbnail(w, r, wait, time.Time{})
}

// legacyThumbnail answers the deprecated unauthenticated thumbnail, with
// the legacy download's freeze.
func (a *API) legacyThumbnail(w http.ResponseWriter, r *http.Request) error {
	wait, err := a.waitParam(r)
	if err != nil {
		return err
	}
	if err := a.legacyAllowed(r); err != nil {
		return err
	}
	return a.serveThumbnail(w, r, wait, a.opts.LegacyFreeze)
}

// thumbnailRequest reads width, height, method (default scale) and animated.
func thumbnailRequest(r *http.Request) (thumbnail.Request, error) {
	q := r.URL.Query()
	width, werr := strconv.Atoi(q.Get("width"))
	height, herr := strconv.Atoi(q.Get("height"))
	if werr != nil || herr != nil {
		return thumbnail.Request{}, fmt.Errorf("%w: width and height must be integers", ErrBadRequest)
	}
	method := thumbnail.Method(q.Get("method"))
	if method == "" {
		method = thumbnail.MethodScale
	}
	animated := false
	if s := q.Get("animated"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return thumbnail.Request{}, fmt.Errorf("%w: animated must be true or false", ErrBadRequest)
		}
		animated = b
	}
	return thumbnail.Request{Width: width, Height: height, Method: method, Animated: animated}, nil
}

// serveThumbnail streams the thumbnail of clean media, inline.
func (a *API) serveThumbnail(w http.ResponseWriter, r *http.Request, wait time.Duration, freeze time.Time) error {
	setSecurityHeaders(w.Header())
	server, id, err := pathMedia(r)
	if err != nil {
		return err
	}
	req, err := thumbnailRequest(r)
	if err != nil {
		return err
	}
	if a.opts.Thumbnails == nil {
		return fmt.Errorf("%w: thumbnails are not configured", media.ErrNotFound)
	}
	th, err := a.opts.Thumbnails.Get(r.Context(), server, id, req, wait)
	if err != nil {
		return err
	}
	if !freeze.IsZero() && th.Record.CreatedAt.After(freeze) {
		return fmt.Errorf("%w: media after the legacy freeze is only served on the authenticated endpoints", media.ErrNotFound)
	}
	rec := th.Record
	rec.Size, rec.SHA256 = th.Size, rec.SHA256+"-"+strconv.Itoa(req.Width)+"x"+strconv.Itoa(req.Height)+string(req.Method)
	return a.send(w, r, rec, th.ContentType, "thumbnail", func(ctx context.Context, off, n int64) (io.ReadCloser, error) {
		return a.opts.Thumbnails.Open(ctx, th, off, n)
	})
}
