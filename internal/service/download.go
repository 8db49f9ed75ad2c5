package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mediarepo/mediarepo/internal/media"
)

// Download returns the record of servable (clean) media. Media still
// reserved or being scanned is waited for up to wait, then
// ErrNotYetUploaded; quarantined or blocked media is ErrNotClean (or
// ErrTypeForbidden); deleted, expired and unknown media is ErrNotFound.
func (s *Service) Download(ctx context.Context, origin, id string, wait time.Duration) (media.Record, error) {
	if err := media.ValidateServerName(origin); err != nil {
		return media.Record{}, err
	}
	if err := media.ValidateMediaID(id); err != nil {
		return media.Record{}, err
	}
	rec, _, err := s.catalog.Get(ctx, origin, id)
	if err != nil {
		return media.Record{}, err
	}
	if errors.Is(rec.ServeError(), media.ErrNotYetUploaded) && wait > 0 {
		wctx, cancel := context.WithTimeout(ctx, wait)
		got, werr := s.catalog.WaitFor(wctx, origin, id, decided)
		cancel()
		switch {
		case werr == nil:
			rec = got
		case ctx.Err() != nil:
			return media.Record{}, ctx.Err()
		case !errors.Is(werr, context.DeadlineExceeded):
			return media.Record{}, werr
		}
	}
	if rec.State == media.StateReserved && !s.now().Before(rec.ExpiresAt) {
		return media.Record{}, media.ErrExpired
	}
	if err := rec.ServeError(); err != nil {
		return media.Record{}, fmt.Errorf("%s: %w", rec.MXC(), err)
	}
	return rec, nil
}

// Open streams length plaintext bytes from offset (length -1: to the end)
// of servable media. It refuses anything that is not clean or whose blob
// is not under MediaPrefix (quarantine is never read here). The caller
// closes the reader.
func (s *Service) Open(ctx context.Context, rec media.Record, offset, length int64) (io.ReadCloser, error) {
	if err := rec.ServeError(); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(rec.BlobKey, MediaPrefix) {
		return nil, fmt.Errorf("%w: blob %s is outside the servable prefix", media.ErrNotClean, rec.BlobKey)
	}
	rc, err := s.blobs.Get(ctx, rec.BlobKey, offset, length)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", rec.MXC(), err)
	}
	n := rec.Size - offset
	if length >= 0 && length < n {
		n = length
	}
	s.metrics.downloadBytes.Add(float64(max(0, n)))
	return rc, nil
}
