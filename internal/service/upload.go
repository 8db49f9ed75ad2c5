package service

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/storage"
)

// Upload is one upload request's content and metadata.
type Upload struct {
	Origin       string
	Uploader     string
	Filename     string
	DeclaredType string
	Body         io.Reader
	// ContentLength is the declared length, or -1. A declared length over
	// the cap is refused before any byte is read; a lying one is caught
	// while streaming.
	ContentLength int64
}

// Upload stores a one-shot upload (POST /_matrix/media/v3/upload) and
// returns its pending record. Refused uploads keep nothing.
func (s *Service) Upload(ctx context.Context, up Upload) (media.Record, error) {
	c, err := s.store(ctx, up)
	if err != nil {
		return media.Record{}, err
	}
	rec := media.NewPending(up.Origin, media.NewMediaID(), up.Uploader, s.now(), c)
	rev, err := s.catalog.Create(ctx, rec)
	if err != nil {
		s.dropRef(context.WithoutCancel(ctx), c)
		return media.Record{}, fmt.Errorf("recording upload: %w", err)
	}
	return s.afterUpload(ctx, rec, rev)
}

// Create reserves a media ID for an async upload (POST /_matrix/media/v1/create).
func (s *Service) Create(ctx context.Context, origin, uploader string) (media.Record, error) {
	recs, err := s.catalog.ByUploader(ctx, uploader)
	if err != nil {
		return media.Record{}, fmt.Errorf("counting pending creates: %w", err)
	}
	now := s.now()
	open := 0
	for _, e := range recs {
		if r := e.Record; r.State == media.StateReserved && now.Before(r.ExpiresAt) {
			open++
		}
	}
	if open >= s.opts.MaxPendingCreates {
		return media.Record{}, fmt.Errorf("%w: %d media IDs await their upload", media.ErrLimitExceeded, open)
	}
	rec := media.NewReserved(origin, media.NewMediaID(), uploader, now, now.Add(s.opts.UnusedExpiresAfter))
	if _, err := s.catalog.Create(ctx, rec); err != nil {
		return media.Record{}, fmt.Errorf("reserving media ID: %w", err)
	}
	return rec, nil
}

// UploadTo fills a reserved media ID (PUT /_matrix/media/v3/upload/{server}/{id}).
// Only its creator may; a second upload is ErrCannotOverwrite; an unknown
// or expired ID is ErrNotFound / ErrExpired.
func (s *Service) UploadTo(ctx context.Context, id string, up Upload) (media.Record, error) {
	if err := media.ValidateMediaID(id); err != nil {
		return media.Record{}, err
	}
	rec, _, err := s.catalog.Get(ctx, up.Origin, id)
	if err != nil {
		return media.Record{}, err
	}
	if err := s.checkReserved(rec, up.Uploader); err != nil {
		return media.Record{}, err
	}
	c, err := s.store(ctx, up)
	if err != nil {
		return media.Record{}, err
	}
	// Re-read: the upload took time; the CAS below catches a racing PUT.
	rec, rev, err := s.catalog.Get(ctx, up.Origin, id)
	if err == nil {
		err = s.checkReserved(rec, up.Uploader)
	}
	if err == nil {
		rec, err = rec.Apply(media.Change{Transition: media.Upload, At: s.now(), Actor: up.Uploader, Content: &c})
	}
	if err == nil {
		rev, err = s.catalog.Update(ctx, rec, rev)
		if errors.Is(err, media.ErrConflict) {
			err = fmt.Errorf("%w: a concurrent upload won", media.ErrCannotOverwrite)
		}
	}
	if err != nil {
		s.dropRef(context.WithoutCancel(ctx), c)
		return media.Record{}, err
	}
	return s.afterUpload(ctx, rec, rev)
}

func (s *Service) checkReserved(rec media.Record, uploader string) error {
	switch {
	case rec.Uploader != uploader:
		return fmt.Errorf("%w: media was created by another user", media.ErrForbidden)
	case rec.State == media.StateExpired || (rec.State == media.StateReserved && !s.now().Before(rec.ExpiresAt)):
		return media.ErrExpired
	case rec.State != media.StateReserved:
		return media.ErrCannotOverwrite
	}
	return nil
}

// afterUpload queues the scan (or, in development, marks clean) and lets
// the upload wait briefly for its verdict when configured.
func (s *Service) afterUpload(ctx context.Context, rec media.Record, rev uint64) (media.Record, error) {
	s.metrics.uploads.WithLabelValues("stored").Inc()
	s.metrics.uploadBytes.Add(float64(rec.Size))
	if s.opts.DevMarkClean {
		v := &media.Verdict{Result: media.ResultClean, Engine: "none (dev_mark_clean)", ScannedAt: s.now()}
		next, err := rec.Apply(media.Change{Transition: media.VerdictClean, At: s.now(), Actor: "dev_mark_clean", Verdict: v})
		if err != nil {
			return rec, err
		}
		if _, err := s.catalog.Update(ctx, next, rev); err != nil {
			return rec, fmt.Errorf("marking clean: %w", err)
		}
		return next, nil
	}
	if err := s.jobs.Enqueue(ctx, rec, rev); err != nil {
		// The record stays pending and is never served; the reconciler
		// re-enqueues it. The upload itself succeeded.
		s.log.Error("queueing scan failed; the reconciler will retry", "media", rec.MXC(), "err", err)
	}
	if s.opts.UploadWait <= 0 {
		return rec, nil
	}
	wctx, cancel := context.WithTimeout(ctx, s.opts.UploadWait)
	defer cancel()
	got, err := s.catalog.WaitFor(wctx, rec.Origin, rec.ID, decided)
	if err != nil {
		return rec, nil // no verdict yet: the upload stands, downloads wait
	}
	if errors.Is(got.ServeError(), media.ErrNotClean) || errors.Is(got.ServeError(), media.ErrTypeForbidden) {
		return got, fmt.Errorf("%w: %s", got.ServeError(), verdictText(got))
	}
	return got, nil
}

// decided reports whether a record has left reserved and pending.
func decided(r media.Record) bool {
	return r.State != media.StatePending && r.State != media.StateReserved
}

func verdictText(r media.Record) string {
	if r.Verdict == nil {
		return string(r.State)
	}
	if r.Verdict.Signature != "" {
		return string(r.Verdict.Result) + ": " + r.Verdict.Signature
	}
	return string(r.Verdict.Result)
}

// store streams the body once into a new sealed blob, then attaches it to
// the per-hash record: identical content is stored once, a blocked hash is
// refused. On any error nothing is kept.
func (s *Service) store(ctx context.Context, up Upload) (media.Content, error) {
	if up.ContentLength > s.opts.MaxUploadSize {
		s.metrics.uploads.WithLabelValues("too_large").Inc()
		return media.Content{}, fmt.Errorf("%w: %d bytes declared, %d allowed", media.ErrTooLarge, up.ContentLength, s.opts.MaxUploadSize)
	}
	if s.policy.Blocked(up.DeclaredType) {
		s.metrics.uploads.WithLabelValues("type_forbidden").Inc()
		return media.Content{}, fmt.Errorf("%w: declared %s", media.ErrTypeForbidden, up.DeclaredType)
	}
	in := newIngest(up.Body, s.opts.MaxUploadSize, s.policy)
	key := MediaPrefix + media.NewMediaID()
	if err := s.blobs.Put(ctx, key, in, up.ContentLength); err != nil {
		outcome := "failed"
		switch {
		case errors.Is(err, media.ErrTooLarge):
			outcome = "too_large"
		case errors.Is(err, media.ErrTypeForbidden):
			outcome = "type_forbidden"
		}
		s.metrics.uploads.WithLabelValues(outcome).Inc()
		return media.Content{}, fmt.Errorf("storing upload: %w", err)
	}
	c := media.Content{DeclaredType: up.DeclaredType, SniffedType: in.sniffed, Filename: up.Filename,
		Size: in.n, SHA256: in.sum(), BlobKey: key, Entropy: entropy(in.head)}
	shared, err := s.attach(ctx, c)
	if err != nil || shared != key {
		if derr := s.blobs.Delete(context.WithoutCancel(ctx), key); derr != nil {
			s.log.Warn("removing duplicate or refused blob failed; garbage collection will", "key", key, "err", derr)
		}
	}
	if err != nil {
		return media.Content{}, err
	}
	if shared != key {
		s.metrics.dedup.Inc()
	}
	c.BlobKey = shared
	return c, nil
}

// attach takes a reference on the per-hash record of c (creating it with
// c's blob) and returns the blob key the record must use.
func (s *Service) attach(ctx context.Context, c media.Content) (string, error) {
	for attempt := 0; attempt < 10; attempt++ {
		// Most uploads are new content: try the create first (one write
		// instead of a read and a write); an existing record — shared,
		// or a blocked hash — answers ErrExists.
		_, err := s.catalog.CreateBlob(ctx, media.NewBlob(c.SHA256, c.BlobKey, c.Size, s.now()))
		if !errors.Is(err, media.ErrExists) {
			return c.BlobKey, err
		}
		b, rev, err := s.catalog.GetBlob(ctx, c.SHA256)
		if errors.Is(err, media.ErrNotFound) {
			continue // deleted meanwhile: create again
		}
		if err != nil {
			return "", err
		}
		if b.Blocked {
			s.metrics.uploads.WithLabelValues("hash_blocked").Inc()
			return "", fmt.Errorf("%w: %s", media.ErrHashBlocked, b.BlockReason)
		}
		if b.Quarantined || b.RefCount <= 0 {
			// The stored copy is in quarantine or about to be purged:
			// keep ours as a separate blob rather than share it.
			return c.BlobKey, nil
		}
		next, err := b.AddRef(s.now())
		if err != nil {
			return "", err
		}
		if _, err = s.catalog.UpdateBlob(ctx, next, rev); errors.Is(err, media.ErrConflict) {
			continue
		}
		return b.BlobKey, err
	}
	return "", fmt.Errorf("%w: blob record kept changing", media.ErrConflict)
}

// dropRef releases the blob reference taken for content that did not get
// a record (a failed create) or whose record was removed (catalog.ReleaseBlob).
// The blob is deleted with its last reference.
func (s *Service) dropRef(ctx context.Context, c media.Content) {
	purge, err := catalog.ReleaseBlob(ctx, s.catalog, c.SHA256, c.BlobKey, s.now())
	if err != nil {
		s.log.Warn("dropping blob reference failed", "sha256", c.SHA256, "err", err)
	}
	if purge == "" {
		return
	}
	if err := s.blobs.Delete(ctx, purge); err != nil && !errors.Is(err, storage.ErrNotFound) {
		s.log.Warn("deleting unreferenced blob failed; garbage collection will", "key", purge, "err", err)
	}
}
