package service

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/storage"
	"github.com/mediarepo/mediarepo/internal/thumbnail"
)

// ThumbPrefix is where generated thumbnails are cached, sealed like every
// blob, keyed by the content's SHA-256 and the size: identical images share
// their thumbnails. They are served only after the record they are asked
// for is checked clean.
const ThumbPrefix = media.ThumbPrefix

// ThumbBlobs is the sealed store as the thumbnails need it.
type ThumbBlobs interface {
	Blobs
	List(ctx context.Context, prefix string, fn func(storage.Info) error) error
}

// errFound stops a listing at its first entry.
var errFound = errors.New("found")

// Thumb is a thumbnail ready to stream: either a cached blob or, when the
// original is smaller than asked, the original itself.
type Thumb struct {
	Record      media.Record
	Key         string
	ContentType string
	Size        int64
	// Original: serve the record's own content.
	Original bool
	// data holds the thumbnail's bytes when the cache has them.
	data []byte
}

// Thumbnails generates thumbnails of clean images (PNG, JPEG, GIF, WebP,
// decoded in pure Go with decompression-bomb limits) at the spec's
// recommended sizes, on first demand, and caches them sealed.
type Thumbnails struct {
	svc    *Service
	blobs  ThumbBlobs
	limits thumbnail.Limits
	sem    chan struct{}
	flight flight[Thumb]
	made   *prometheus.CounterVec
	// found remembers the cached thumbnails found (thumbcache.go).
	found *thumbCache
}

// NewThumbnails returns the thumbnail flow; concurrency bounds how many
// are generated at once (each may hold tens of MB while decoding).
func NewThumbnails(svc *Service, blobs ThumbBlobs, limits thumbnail.Limits, concurrency int, reg prometheus.Registerer) *Thumbnails {
	t := &Thumbnails{svc: svc, blobs: blobs, limits: limits, sem: make(chan struct{}, max(1, concurrency)), found: newThumbCache(svc.now),
		made: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediarepo_thumbnails_total", Help: "Thumbnail requests by outcome (cached, generated, original, refused).",
		}, []string{"outcome"})}
	reg.MustRegister(t.made)
	return t
}

// Get returns the thumbnail of media that is servable (clean, waiting up
// to wait for its verdict, like a download) for req: the best recommended
// size, generated and cached on first demand. Concurrent requests for the
// same thumbnail share one generation, which stops when all of them have
// gone (flight) and in any case after the limits' Timeout.
func (t *Thumbnails) Get(ctx context.Context, origin, id string, req thumbnail.Request, wait time.Duration) (Thumb, error) {
	if err := req.Validate(t.limits); err != nil {
		return Thumb{}, err
	}
	rec, err := t.svc.Download(ctx, origin, id, wait)
	if err != nil {
		return Thumb{}, err
	}
	size, _ := thumbnail.Pick(thumbnail.RecommendedSizes(), req)
	sreq := size.Request(req.Animated)
	base := fmt.Sprintf("%s%dx%d-%s", media.ThumbnailSet(rec.SHA256), size.Width, size.Height, size.Method)
	if req.Animated {
		base += "-animated"
	}
	if e, ok := t.found.get(base); ok {
		t.made.WithLabelValues("cached").Inc()
		th := t.thumb(rec, e.key, e.size)
		th.data = e.data
		return th, nil
	}
	var cached *storage.Info
	err = t.blobs.List(ctx, base+".", func(info storage.Info) error {
		cached = &info
		return errFound
	})
	if err != nil && !errors.Is(err, errFound) {
		return Thumb{}, fmt.Errorf("looking up cached thumbnails: %w", err)
	}
	if cached != nil {
		t.made.WithLabelValues("cached").Inc()
		t.found.put(base, cached.Key, cached.Size, nil)
		return t.thumb(rec, cached.Key, cached.Size), nil
	}
	th, err := t.flight.do(ctx, base, 0, func(ctx context.Context) (Thumb, error) {
		return t.generate(ctx, rec, base, sreq)
	})
	if err != nil {
		if ctx.Err() == nil {
			t.made.WithLabelValues("refused").Inc()
		}
		return Thumb{}, err
	}
	return th, nil
}

// thumb describes a cached key; ".original" marks "the original is
// smaller than this size" (an empty blob, so the decision is cached too).
func (t *Thumbnails) thumb(rec media.Record, key string, size int64) Thumb {
	ext := key[strings.LastIndexByte(key, '.')+1:]
	if ext == "original" {
		return Thumb{Record: rec, Original: true, ContentType: rec.DeclaredType, Size: rec.Size}
	}
	return Thumb{Record: rec, Key: key, ContentType: "image/" + ext, Size: size}
}

func (t *Thumbnails) generate(ctx context.Context, rec media.Record, base string, req thumbnail.Request) (Thumb, error) {
	select {
	case t.sem <- struct{}{}:
		defer func() { <-t.sem }()
	case <-ctx.Done():
		return Thumb{}, ctx.Err()
	}
	if rec.Size > t.limits.MaxInputBytes && t.limits.MaxInputBytes > 0 {
		return Thumb{}, fmt.Errorf("%w: %d bytes", thumbnail.ErrTooLarge, rec.Size)
	}
	src, err := t.svc.Open(ctx, rec, 0, -1)
	if err != nil {
		return Thumb{}, err
	}
	res, err := thumbnail.Generate(ctx, src, req, t.limits)
	src.Close()
	if err != nil {
		return Thumb{}, err
	}
	key, data := base+".original", []byte{}
	if !res.UseOriginal {
		key, data = base+"."+strings.TrimPrefix(res.ContentType, "image/"), res.Data
	}
	if err := t.cache(ctx, rec, key, data); err != nil {
		return Thumb{}, err
	}
	t.found.put(base, key, int64(len(data)), data)
	if res.UseOriginal {
		t.made.WithLabelValues("original").Inc()
	} else {
		t.made.WithLabelValues("generated").Inc()
	}
	return t.thumb(rec, key, int64(len(data))), nil
}

// cache stores a generated thumbnail under a thumbnail intent, which is
// removed once the hash is seen still referenced after the store: a
// thumbnail whose hash lost its last reference meanwhile (its set was
// purged, or is about to be) is deleted again, and one whose generation
// died on the way is judged by the reconciler (worker/purge.go). So no
// thumbnail outlives the content it was made of.
func (t *Thumbnails) cache(ctx context.Context, rec media.Record, key string, data []byte) error {
	cat := t.svc.catalog
	if err := cat.PutIntent(ctx, catalog.Intent{BlobKey: key, SHA256: rec.SHA256, CreatedAt: t.svc.now()}); err != nil {
		return fmt.Errorf("recording the thumbnail's intent: %w", err)
	}
	if err := t.blobs.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.svc.dropIntent(context.WithoutCancel(ctx), key)
		return fmt.Errorf("caching thumbnail: %w", err)
	}
	ref, err := catalog.Referenced(ctx, cat, rec.SHA256, media.ThumbnailSet(rec.SHA256))
	if err != nil {
		return fmt.Errorf("checking the thumbnail's content: %w", err) // the intent stays for the reconciler
	}
	if !ref {
		if err := t.blobs.Delete(ctx, key); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("removing the thumbnail of deleted content: %w", err)
		}
		t.svc.dropIntent(ctx, key)
		return fmt.Errorf("%w: %s was deleted while its thumbnail was made", media.ErrNotFound, rec.MXC())
	}
	t.svc.dropIntent(ctx, key)
	return nil
}

// Open streams a thumbnail (length -1: to the end). The caller closes it.
// A thumbnail whose bytes the cache holds is served from memory; one
// read whole from the store is held for the next request. A thumbnail
// blob that has gone is forgotten, so the next request looks again.
func (t *Thumbnails) Open(ctx context.Context, th Thumb, offset, length int64) (io.ReadCloser, error) {
	if th.Original {
		return t.svc.Open(ctx, th.Record, offset, length)
	}
	if err := th.Record.ServeError(); err != nil || !strings.HasPrefix(th.Key, ThumbPrefix) {
		return nil, errors.Join(media.ErrNotClean, err)
	}
	whole := offset == 0 && length >= th.Size
	if whole {
		length = -1 // one backend request instead of a Stat and a range
	}
	if th.data != nil {
		return rangeOf(th.data, offset, length)
	}
	if whole && th.Size <= thumbCacheMaxItem {
		rc, err := t.blobs.Get(ctx, th.Key, 0, -1)
		if err != nil {
			return nil, t.openFailed(th.Key, err)
		}
		defer rc.Close()
		data, err := io.ReadAll(io.LimitReader(rc, thumbCacheMaxItem+1))
		if err != nil {
			return nil, fmt.Errorf("reading thumbnail %s: %w", th.Key, err)
		}
		if int64(len(data)) != th.Size {
			return nil, fmt.Errorf("reading thumbnail %s: %d bytes, listed as %d", th.Key, len(data), th.Size)
		}
		t.found.hold(th.Key, data)
		return io.NopCloser(bytes.NewReader(data)), nil
	}
	rc, err := t.blobs.Get(ctx, th.Key, offset, length)
	if err != nil {
		return nil, t.openFailed(th.Key, err)
	}
	return rc, nil
}

// openFailed forgets a thumbnail whose blob is gone and returns err.
func (t *Thumbnails) openFailed(key string, err error) error {
	if errors.Is(err, storage.ErrNotFound) {
		t.found.forget(key)
	}
	return err
}

// rangeOf serves length bytes (-1: to the end) from offset of data.
func rangeOf(data []byte, offset, length int64) (io.ReadCloser, error) {
	if offset > int64(len(data)) {
		return nil, fmt.Errorf("thumbnail: offset %d of %d bytes: %w", offset, len(data), storage.ErrInvalidRange)
	}
	end := int64(len(data))
	if length >= 0 && offset+length < end {
		end = offset + length
	}
	return io.NopCloser(bytes.NewReader(data[offset:end])), nil
}
