// Package preview builds URL previews (GET /_matrix/client/v1/media/preview_url):
// it fetches a page through the SSRF-safe dialer, parses its Open Graph
// data with a maintained HTML parser, stores the preview image like an
// upload, and names it only once it scanned clean.
package preview

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/mediarepo/mediarepo/internal/federation"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/service"
	"github.com/mediarepo/mediarepo/internal/thumbnail"
)

// Errors of previews; internal/httpapi maps them.
var (
	// ErrBadURL: the url parameter is missing or not an http(s) URL (400).
	ErrBadURL = errors.New("preview: bad URL")
	// ErrDenied: the URL, or a redirect, matches a denied pattern or no
	// allowed one (403).
	ErrDenied = errors.New("preview: URL not allowed")
	// ErrFetchFailed: the page could not be fetched within the limits: an
	// error answer, a timeout, too many redirects (502).
	ErrFetchFailed = errors.New("preview: fetching the URL failed")
)

// Media is what previews need of the media flows: store the preview image
// like an upload, and wait for its verdict (service.Service).
type Media interface {
	Upload(ctx context.Context, up service.Upload) (media.Record, error)
	Download(ctx context.Context, origin, id string, wait time.Duration) (media.Record, error)
}

// Options configure previews.
type Options struct {
	// Policy decides which resolved addresses may be dialled.
	Policy federation.AddrPolicy
	// Deny and Allow are URL glob patterns (Rules).
	Deny, Allow []string
	// MaxPageSize is how much of a page is read and parsed.
	MaxPageSize int64
	// MaxImageSize caps the preview image.
	MaxImageSize int64
	// Timeout bounds one preview: page, image, scan.
	Timeout time.Duration
	// MaxRedirects bounds the redirects of one fetch.
	MaxRedirects int
	// CacheTTL keeps a preview this long per URL; CacheEntries bounds the
	// cache.
	CacheTTL     time.Duration
	CacheEntries int
	// Image limits the preview image's headers (pixels, frames).
	Image thumbnail.Limits
}

// Previewer builds previews.
type Previewer struct {
	media   Media
	fetch   *fetcher
	opts    Options
	cache   *cache
	flight  singleflight.Group
	log     *slog.Logger
	results *prometheus.CounterVec
	now     func() time.Time
}

// New returns a Previewer.
func New(m Media, opts Options, log *slog.Logger, reg prometheus.Registerer) (*Previewer, error) {
	rules, err := NewRules(opts.Deny, opts.Allow)
	if err != nil {
		return nil, err
	}
	if opts.CacheEntries <= 0 {
		opts.CacheEntries = 10000
	}
	p := &Previewer{media: m, opts: opts, fetch: newFetcher(opts.Policy, rules, opts.MaxRedirects, opts.Timeout),
		cache: newCache(opts.CacheEntries), log: log, now: time.Now,
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediarepo_url_previews_total", Help: "URL previews by outcome (cached, fetched, failed, denied).",
		}, []string{"outcome"})}
	reg.MustRegister(p.results)
	return p, nil
}

// Preview is the Open Graph answer: og:* strings, and for the image
// og:image (an mxc:// URI), og:image:type, og:image:width,
// og:image:height and matrix:image:size.
type Preview map[string]any

// Get returns the preview of rawURL for user, whose served server name is
// origin (where the preview image is stored). Previews are cached per URL
// for CacheTTL, and concurrent requests for the same URL share one fetch.
// The image is named only once it scanned clean; an image that is
// infected, blocked, too large, a decompression bomb or not scanned in
// time leaves the preview without one. Errors wrap ErrBadURL, ErrDenied,
// federation.ErrAddressForbidden or ErrFetchFailed.
func (p *Previewer) Get(ctx context.Context, user, origin, rawURL string) (Preview, error) {
	u, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	if err := p.fetch.rules.Check(u); err != nil {
		p.results.WithLabelValues("denied").Inc()
		return nil, err
	}
	key := cacheKey(origin, u)
	if pv, ok := p.cache.get(key, p.now()); ok {
		p.results.WithLabelValues("cached").Inc()
		return pv, nil
	}
	ch := p.flight.DoChan(key, func() (any, error) {
		// Detached from the first caller: the others wait for the same fetch.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.opts.Timeout)
		defer cancel()
		pv, complete, err := p.build(fctx, user, origin, u)
		if err != nil {
			return nil, err
		}
		if complete {
			p.cache.put(key, pv, p.now().Add(p.opts.CacheTTL))
		}
		return pv, nil
	})
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case res := <-ch:
		if res.Err != nil {
			p.results.WithLabelValues("failed").Inc()
			return nil, res.Err
		}
		p.results.WithLabelValues("fetched").Inc()
		return res.Val.(Preview), nil
	}
}

// parseURL accepts an absolute http(s) URL of reasonable length.
func parseURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, fmt.Errorf("%w: the url parameter is required", ErrBadURL)
	}
	if len(raw) > 4096 {
		return nil, fmt.Errorf("%w: longer than 4096 bytes", ErrBadURL)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return nil, fmt.Errorf("%w: not an absolute URL", ErrBadURL)
	}
	return u, nil
}

// cacheKey names a preview: per served server name (its image lives
// there) and URL without fragment.
func cacheKey(origin string, u *url.URL) string {
	h := sha256.Sum256([]byte(origin + "\x00" + canonical(u)))
	return hex.EncodeToString(h[:])
}

// build fetches u and makes its preview; complete is false when the image
// could not be judged in time (such a preview is not cached).
func (p *Previewer) build(ctx context.Context, user, origin string, u *url.URL) (Preview, bool, error) {
	ans, err := p.fetch.get(ctx, u, "text/html,application/xhtml+xml;q=0.9,image/*;q=0.8,*/*;q=0.1")
	if err != nil {
		return nil, false, err
	}
	defer ans.Body.Close()
	pv := Preview{}
	switch {
	case isHTML(ans.MediaType):
		og := OpenGraph(io.LimitReader(ans.Body, p.opts.MaxPageSize), ans.ContentType)
		ans.Body.Close() // the rest of a huge page is never read
		var imageURL string
		for k, v := range og {
			if k == "og:image" || k == "og:image:url" || k == "og:image:secure_url" || k == "og:image:width" ||
				k == "og:image:height" || k == "og:image:type" {
				continue
			}
			pv[k] = v
		}
		imageURL = og["og:image"]
		if imageURL == "" {
			imageURL = og["og:image:url"]
		}
		if imageURL == "" {
			return pv, true, nil
		}
		iu, err := ans.URL.Parse(imageURL)
		if err != nil {
			return pv, true, nil
		}
		complete := p.addImage(ctx, pv, user, origin, iu, nil)
		return pv, complete, nil
	case isImage(ans.MediaType):
		complete := p.addImage(ctx, pv, user, origin, ans.URL, ans)
		return pv, complete, nil
	}
	return pv, true, nil // neither a page nor an image: an empty preview, as Synapse answers
}

// addImage fetches (unless already fetched), checks, stores and awaits the
// verdict of the preview image, and names it in pv only when clean. It
// reports whether the outcome is final (false: no verdict in time).
func (p *Previewer) addImage(ctx context.Context, pv Preview, user, origin string, u *url.URL, ans *answer) bool {
	if ans == nil {
		var err error
		ans, err = p.fetch.get(ctx, u, "image/*")
		if err != nil {
			p.log.Info("preview image not fetched", "url_host", u.Host, "err", err)
			return true
		}
		defer ans.Body.Close()
		if !isImage(ans.MediaType) {
			return true
		}
	}
	if ans.Length > p.opts.MaxImageSize {
		return true
	}
	data, err := io.ReadAll(io.LimitReader(ans.Body, p.opts.MaxImageSize+1))
	if err != nil || int64(len(data)) > p.opts.MaxImageSize {
		return err != nil && ctx.Err() != nil
	}
	info, err := thumbnail.Probe(data, p.opts.Image)
	if err != nil { // not an image we can show, or a decompression bomb: never stored
		p.log.Info("preview image refused", "url_host", u.Host, "err", err)
		return true
	}
	rec, err := p.media.Upload(ctx, service.Upload{Origin: origin, Uploader: user, Filename: "preview",
		DeclaredType: info.MediaType, Body: bytes.NewReader(data), ContentLength: int64(len(data))})
	if err != nil {
		p.log.Info("preview image not stored", "url_host", u.Host, "err", err)
		return !errors.Is(err, context.DeadlineExceeded)
	}
	wait := time.Until(deadline(ctx))
	rec, err = p.media.Download(ctx, rec.Origin, rec.ID, wait)
	if err != nil {
		// Infected, blocked, or no verdict yet: the preview has no image.
		return !errors.Is(err, media.ErrNotYetUploaded) && ctx.Err() == nil
	}
	pv["og:image"] = rec.MXC()
	pv["og:image:type"] = info.MediaType
	pv["og:image:width"] = info.Width
	pv["og:image:height"] = info.Height
	pv["matrix:image:size"] = rec.Size
	return true
}

// deadline is ctx's deadline (or a second from now without one).
func deadline(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d.Add(-100 * time.Millisecond)
	}
	return time.Now().Add(time.Second)
}
