package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/storage"
)

// Collection of crashed uploads from their intents (design §5a). An
// upload records an intent naming its blob key and its record's
// (origin, ID) before the blob is put, adds the content's SHA-256 once
// the blob is stored and before the per-hash record is touched, and
// removes the intent once its record names the content. An intent older
// than GCGrace is therefore an upload that died on the way, and the
// collector settles it from what the catalog says, without listing the
// blob store or reading every record:
//   - the record exists and names the intent's blob: the upload finished
//     and only the intent's removal was lost;
//   - the per-hash record names the blob: the upload created it and took
//     its reference, but no record came to hold it (a crash between
//     attach and the record's create, issue 14 item 6). The reference is
//     given up (catalog.ReleaseBlob); with the last one the blob and the
//     per-hash record go, so a later upload of the same bytes stores them
//     afresh instead of sharing a collected blob;
//   - otherwise no record and no per-hash record names the blob: it is
//     deleted (an intent without a hash never reached the per-hash record).
//
// An upload that shared another upload's blob and then died leaves that
// shared reference counted: the blob is kept (never a record pointing at a
// purged blob), at the price of storage until an operator's full
// collection (`mediarepo catalog reindex`).
//
// Cost: one catalog listing of the intents older than the grace period,
// then a few reads per crashed upload.

// IntentCatalog is what the collector needs of the catalog.
type IntentCatalog interface {
	ListIntents(ctx context.Context, before time.Time, fn func(catalog.Intent) error) error
	DeleteIntent(ctx context.Context, blobKey string) error
	Get(ctx context.Context, origin, id string) (media.Record, uint64, error)
	catalog.BlobRefs
}

// collectIntents settles the uploads whose intents are older than GCGrace.
func (r *Reconciler) collectIntents(ctx context.Context, now time.Time) error {
	var stale []catalog.Intent
	err := r.cat.ListIntents(ctx, now.Add(-r.opts.GCGrace), func(in catalog.Intent) error {
		stale = append(stale, in)
		return nil
	})
	if err != nil {
		return fmt.Errorf("collecting crashed uploads: listing intents: %w", err)
	}
	var errs []error
	for _, in := range stale {
		if err := r.settleIntent(ctx, in, now); err != nil {
			errs = append(errs, fmt.Errorf("collecting crashed upload of %s: %w", in.BlobKey, err))
		}
	}
	return errors.Join(errs...)
}

// settleIntent collects what one crashed upload left, then its intent.
// Purge marks and thumbnail intents are settled by purge.go.
func (r *Reconciler) settleIntent(ctx context.Context, in catalog.Intent, now time.Time) error {
	if in.Purge || strings.HasPrefix(in.BlobKey, media.ThumbPrefix) {
		return r.settlePurge(ctx, in)
	}
	rec, _, err := r.cat.Get(ctx, in.Origin, in.ID)
	switch {
	case err == nil && rec.BlobKey == in.BlobKey:
		return r.cat.DeleteIntent(ctx, in.BlobKey) // finished; only the removal was lost
	case err != nil && !errors.Is(err, media.ErrNotFound) && !errors.Is(err, media.ErrInvalidID) && !errors.Is(err, media.ErrInvalidServerName):
		return err
	}
	purge := in.BlobKey
	if in.SHA256 != "" {
		b, _, err := r.cat.GetBlob(ctx, in.SHA256)
		switch {
		case err == nil && b.BlobKey == in.BlobKey:
			// The upload created the per-hash record: give its reference
			// up; the blob goes with the last one.
			purge, err = catalog.ReleaseBlob(ctx, r.cat, in.SHA256, in.BlobKey, now)
			if err != nil {
				return err
			}
			r.actions.WithLabelValues("intent_ref_dropped").Inc()
		case err != nil && !errors.Is(err, media.ErrNotFound):
			return err
		}
	}
	if purge != "" {
		if err := r.blobs.Delete(ctx, purge); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		r.actions.WithLabelValues("collected").Inc()
	}
	r.log.Info("crashed upload collected", "blob", in.BlobKey, "media", media.MXC(in.Origin, in.ID),
		"sha256", in.SHA256, "intent_created", in.CreatedAt, "blob_deleted", purge)
	return r.cat.DeleteIntent(ctx, in.BlobKey)
}
