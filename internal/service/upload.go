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
	// importing counts the upload against its uploader's quota without
	// refusing it (imported media counts, but is never lost to a quota).
	importing bool
}

// Upload stores a one-shot upload (POST /_matrix/media/v3/upload) and
// returns its pending record. Refused uploads keep nothing.
func (s *Service) Upload(ctx context.Context, up Upload) (media.Record, error) {
	id := media.NewMediaID()
	c, err := s.write(ctx, up, id)
	if err != nil {
		return media.Record{}, err
	}
	rec := media.NewPending(up.Origin, id, up.Uploader, s.now(), c)
	rec, rev, err := s.record(ctx, rec, 0)
	if err != nil {
		s.ReleaseUsage(ctx, up.Uploader, c.Size)
		return media.Record{}, fmt.Errorf("recording upload: %w", err)
	}
	return s.afterUpload(ctx, rec, rev)
}

// record writes the record of an upload, its blob reference and the
// removal of its intent in one catalog call (one transaction with
// PostgreSQL: issue 13 item 6), then deletes the blob no record uses: the
// upload's own copy when the content was stored before or, on failure,
// its new blob, and then its intent.
func (s *Service) record(ctx context.Context, rec media.Record, rev uint64) (media.Record, uint64, error) {
	own := rec.BlobKey
	st, err := s.catalog.RecordUpload(ctx, catalog.Upload{Record: rec, Revision: rev, At: s.now(), Intent: own, BlobStored: s.blobStored})
	if st.Unused != "" {
		if derr := s.blobs.Delete(context.WithoutCancel(ctx), st.Unused); derr != nil && !errors.Is(derr, storage.ErrNotFound) {
			s.log.Warn("removing an unused blob failed; garbage collection will", "key", st.Unused, "err", derr)
		}
	}
	if err != nil {
		if errors.Is(err, media.ErrHashBlocked) {
			s.metrics.uploads.WithLabelValues("hash_blocked").Inc()
		}
		if errors.Is(err, catalog.ErrOutcomeUnknown) {
			// The record may have been written (the catalog's connection
			// was lost during the commit): its blob must stay until a
			// read tells.
			s.settleUnknown(ctx, rec.Origin, rec.ID, own, err)
			return media.Record{}, 0, err
		}
		// own is this upload's new blob, never a shared one: with no
		// record it is unused whatever the catalog said.
		s.discardBlob(context.WithoutCancel(ctx), own)
		return media.Record{}, 0, err
	}
	if st.Record.BlobKey != own {
		s.metrics.dedup.Inc()
	}
	return st.Record, st.Revision, nil
}

// blobStored reports whether a shared blob still exists (catalog.Share
// takes a missing one over).
func (s *Service) blobStored(ctx context.Context, key string) (bool, error) {
	_, err := s.blobs.Stat(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		// A crash between its per-hash record and its media record, then
		// the blob collected (issue 14 item 6): sharing it would block
		// this upload and every later copy for good.
		s.log.Warn("per-hash record names a missing blob; the new upload replaces it", "missing", key)
		return false, nil
	}
	return err == nil, err
}

// Create reserves a media ID for an async upload (POST /_matrix/media/v1/create).
// The catalog counts the uploader's open reservations and creates the new
// one in one atomic step (catalog.Reservations), so concurrent creates
// never pass MaxPendingCreates and no request reads the uploader's other
// records.
func (s *Service) Create(ctx context.Context, origin, uploader string) (media.Record, error) {
	now := s.now()
	rec := media.NewReserved(origin, media.NewMediaID(), uploader, now, now.Add(s.opts.UnusedExpiresAfter))
	if _, err := s.catalog.Reserve(ctx, rec, s.opts.MaxPendingCreates); err != nil {
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
	c, err := s.write(ctx, up, id)
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
	if err != nil {
		s.discardBlob(context.WithoutCancel(ctx), c.BlobKey)
		s.ReleaseUsage(ctx, up.Uploader, c.Size)
		return media.Record{}, err
	}
	rec, rev, err = s.record(ctx, rec, rev)
	if errors.Is(err, media.ErrConflict) {
		err = fmt.Errorf("%w: a concurrent upload won", media.ErrCannotOverwrite)
	}
	if err != nil {
		s.ReleaseUsage(ctx, up.Uploader, c.Size)
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
		// The record stays pending and is never served until a retry
		// (enqueue.go) or the reconciler queues it. The upload itself
		// succeeded.
		s.log.Warn("queueing scan failed", "media", rec.MXC(), "err", err)
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

// store streams the body once into a new sealed blob (write), then
// attaches it to the per-hash record: identical content is stored once, a
// blocked hash is refused. On any error nothing is kept. It is the path of
// remote media, whose record is created after the quota is settled;
// uploads record blob and record together (record).
//
// The intent that write recorded is completed with the content's hash
// before the per-hash record is touched. The caller removes the intent
// (dropIntent) once the record names the content; an intent that outlives
// the collector's grace period is a crashed upload, whose blob and blob
// reference the reconciler collects (worker/intents.go).
func (s *Service) store(ctx context.Context, up Upload, id string) (media.Content, string, error) {
	c, err := s.write(ctx, up, id)
	if err != nil {
		return media.Content{}, "", err
	}
	key := c.BlobKey
	shared := ""
	err = s.catalog.PutIntent(ctx, catalog.Intent{BlobKey: key, Origin: up.Origin, ID: id, SHA256: c.SHA256, CreatedAt: s.now()})
	if err == nil {
		shared, err = s.attach(ctx, c)
	}
	if err != nil {
		s.discardBlob(context.WithoutCancel(ctx), key)
		s.ReleaseUsage(ctx, up.Uploader, c.Size)
		return media.Content{}, "", err
	}
	if shared != key {
		if derr := s.blobs.Delete(context.WithoutCancel(ctx), key); derr != nil && !errors.Is(derr, storage.ErrNotFound) {
			s.log.Warn("removing a duplicate blob failed; `mediarepo catalog reindex` finds it", "key", key, "err", derr)
		}
	}
	if shared != key {
		s.metrics.dedup.Inc()
	}
	c.BlobKey = shared
	return c, key, nil
}

// write streams the body once, through the size limit, the hasher and the
// type policy, into a new sealed blob and returns its content (BlobKey is
// the new blob, which is also the key of its upload intent).
//
// An upload intent naming the blob (and the record origin/id will hold
// it) is recorded while the body streams, durable before the body's last
// byte reaches the store (intentgate.go); when it cannot be recorded,
// nothing is stored (fail closed: a blob without an intent would never be
// collected). On any error nothing is kept.
func (s *Service) write(ctx context.Context, up Upload, id string) (media.Content, error) {
	if up.ContentLength > s.opts.MaxUploadSize {
		s.metrics.uploads.WithLabelValues("too_large").Inc()
		return media.Content{}, fmt.Errorf("%w: %d bytes declared, %d allowed", media.ErrTooLarge, up.ContentLength, s.opts.MaxUploadSize)
	}
	if s.policy.Blocked(up.DeclaredType) {
		s.metrics.uploads.WithLabelValues("type_forbidden").Inc()
		return media.Content{}, fmt.Errorf("%w: declared %s", media.ErrTypeForbidden, up.DeclaredType)
	}
	release, err := s.admission.admit(up.Uploader, up.ContentLength)
	if err != nil {
		s.metrics.uploads.WithLabelValues("limited").Inc()
		return media.Content{}, err
	}
	defer release()
	// A quota to enforce is taken before a byte is read (one file and the
	// declared length) and the body may not pass what it has left.
	// Without one, the same count is taken while the body is stored.
	held := s.startQuotaHold(ctx, up)
	hold, err := held.early()
	if err != nil {
		return media.Content{}, err
	}
	in := newIngest(hold.body(up.Body), up.ContentLength, s.opts.MaxUploadSize, s.policy)
	key := MediaPrefix + media.NewMediaID()
	intent := s.startIntent(ctx, catalog.Intent{BlobKey: key, Origin: up.Origin, ID: id, CreatedAt: s.now()})
	err = s.blobs.Put(ctx, key, intent.gate(in, up.ContentLength), up.ContentLength)
	if ierr := intent.wait(); ierr != nil {
		// The gate failed the body before its last byte: nothing was
		// stored (the delete makes sure). The intent's outcome may be
		// unknown: it is removed too, or left to the collector.
		held.release(ctx)
		s.discardBlob(context.WithoutCancel(ctx), key)
		if err == nil || !in.failed {
			err = fmt.Errorf("recording upload intent: %w", ierr)
		}
		s.metrics.uploads.WithLabelValues(uploadOutcome(err)).Inc()
		return media.Content{}, fmt.Errorf("storing upload: %w", err)
	}
	putFailed := err != nil
	if hold, herr := held.wait(); err == nil && herr != nil {
		err = herr // a count that failed stores nothing (released below: nothing was held)
	} else if err == nil {
		hold.settle(ctx, in.n)
	}
	if err != nil {
		held.release(ctx)
		if in.failed || !putFailed {
			// The body failed (no whole object was stored), or the put
			// finished (the delete finds the object): both go.
			s.discardBlob(context.WithoutCancel(ctx), key)
		} else {
			// The store failed or the request was cancelled after the
			// body was read: S3 may still finish the object after the
			// delete (the fault test found such orphans when the load's
			// end cancelled uploads). The intent stays, and the
			// collector deletes the blob again after the grace period.
			s.deleteBlob(context.WithoutCancel(ctx), key)
		}
		s.metrics.uploads.WithLabelValues(uploadOutcome(err)).Inc()
		return media.Content{}, fmt.Errorf("storing upload: %w", err)
	}
	c := media.Content{DeclaredType: up.DeclaredType, SniffedType: in.sniffed, Filename: up.Filename,
		Size: in.n, SHA256: in.sum(), BlobKey: key, Entropy: entropy(in.sniffHead()),
		TypeCheck: typeCheck(in.head, in.sniffed)}
	return c, nil
}

// uploadOutcome is the uploads metric's outcome of a failed write.
func uploadOutcome(err error) string {
	switch {
	case errors.Is(err, media.ErrTooLarge):
		return "too_large"
	case errors.Is(err, media.ErrTypeForbidden):
		return "type_forbidden"
	}
	return "failed"
}

// discardBlob deletes the blob of an upload that keeps nothing, then its
// intent. When the delete fails the intent stays, so that the collector
// removes the blob after the grace period instead of leaving an orphan
// that nothing names. (The fault test found such orphans: uploads whose
// put failed or was cancelled after S3 had stored the object.)
func (s *Service) discardBlob(ctx context.Context, key string) {
	if s.deleteBlob(ctx, key) {
		s.dropIntent(ctx, key)
	}
}

// deleteBlob deletes the blob of a failed upload and reports whether it
// is gone; its intent stays for the collector either way.
func (s *Service) deleteBlob(ctx context.Context, key string) bool {
	if err := s.blobs.Delete(ctx, key); err != nil && !errors.Is(err, storage.ErrNotFound) {
		s.log.Warn("removing the blob of a failed upload failed; the collector will, from its intent", "key", key, "err", err)
		return false
	}
	return true
}

// dropIntent removes an upload intent once its record names the content
// (or nothing of it is kept). A failure only leaves work for the
// collector, which finds the record and removes the intent.
func (s *Service) dropIntent(ctx context.Context, blobKey string) {
	if err := s.catalog.DeleteIntent(ctx, blobKey); err != nil {
		s.log.Warn("removing an upload intent failed; the reconciler will", "blob", blobKey, "err", err)
	}
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
		// One rule for every upload path (catalog.Share): a blocked hash
		// is refused, a quarantined or dying blob is not shared, a
		// missing one is taken over.
		d, err := catalog.Share(ctx, b, c.BlobKey, s.now(), s.blobStored)
		if errors.Is(err, media.ErrHashBlocked) {
			s.metrics.uploads.WithLabelValues("hash_blocked").Inc()
		}
		if err != nil || !d.Write {
			return d.Key, err
		}
		if _, err = s.catalog.UpdateBlob(ctx, d.Next, rev); errors.Is(err, media.ErrConflict) {
			continue
		}
		return d.Key, err
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
