package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
)

// Retention of cached remote media (federation.remote_retention), run by
// the reconciler under its lease:
//   - Only clean copies are dropped. Pending ones wait for their verdict
//     (the scan pipeline owns them); quarantined, blocked and deleted ones
//     are kept: their state is what refuses the media when it is asked for
//     again (a dropped record would be fetched afresh from the origin and
//     served if the new bytes scan clean), and officers review them.
//   - Age counts from the fetch (the record's UploadedAt), not from the
//     last download: the catalog does not track reads.
//   - A drop deletes the record with a compare-and-set (a record that
//     changed meanwhile is left for the next walk), then gives up its blob
//     reference (catalog.ReleaseBlob, the same code as the upload flow:
//     the blob is purged with its last reference, a local upload of the
//     same bytes keeps it), then takes its size off the remote bytes
//     count. A crash in between leaves a reference counted (blob kept) or
//     the count too high; the operator's full collection (`mediarepo catalog
//     reindex`) corrects the count.
//   - A download that is streaming the copy when its blob is purged fails
//     mid-way; the next request fetches it again.
//   - The hash's thumbnails go with its last reference, like the blob.
//
// Cost: the catalog's remote retention index (ListRemoteBefore) yields the
// records fetched before the cut-off, oldest first; a pass reads in
// proportion to the media it drops, never the whole catalog.

// holdsRemoteBytes reports whether a record's size counts against the
// remote quota: cached remote media whose bytes are still stored.
func holdsRemoteBytes(rec media.Record) bool {
	return rec.Remote && rec.State != media.StateDeleted && rec.State != media.StateExpired && rec.State != media.StateReserved
}

// fetchedAt is when remote media was fetched.
func fetchedAt(rec media.Record) time.Time {
	if !rec.UploadedAt.IsZero() {
		return rec.UploadedAt
	}
	return rec.CreatedAt
}

// retain drops clean cached remote media fetched longer than
// RemoteRetention ago.
func (r *Reconciler) retain(ctx context.Context, now time.Time) error {
	var old []catalog.Entry
	err := r.cat.ListRemoteBefore(ctx, now.Add(-r.opts.RemoteRetention), func(e catalog.Entry) error {
		if e.Record.Remote && e.Record.State == media.StateClean && now.Sub(fetchedAt(e.Record)) >= r.opts.RemoteRetention {
			old = append(old, e)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("remote retention: listing records: %w", err)
	}
	var errs []error
	for _, e := range old {
		errs = append(errs, r.dropRemote(ctx, e, now))
	}
	return errors.Join(errs...)
}

// dropRemote deletes one cached remote record at the revision it was read
// at, releases its blob and its bytes.
func (r *Reconciler) dropRemote(ctx context.Context, e catalog.Entry, now time.Time) error {
	rec := e.Record
	err := r.cat.Delete(ctx, rec.Origin, rec.ID, e.Revision)
	if errors.Is(err, media.ErrConflict) || errors.Is(err, media.ErrNotFound) {
		return nil // changed or gone meanwhile: the next walk decides again
	}
	if err != nil {
		return fmt.Errorf("remote retention: deleting %s: %w", rec.MXC(), err)
	}
	purge, err := catalog.ReleaseBlob(ctx, r.cat, rec.SHA256, rec.BlobKey, now)
	if err != nil {
		r.log.Warn("remote retention: releasing the blob reference failed; the blob is kept", "media", rec.MXC(), "sha256", rec.SHA256, "err", err)
	}
	if purge != "" {
		// The blob, and the hash's thumbnails unless another record
		// references the hash; a failed purge stays marked and is retried.
		keys := []string{purge, media.ThumbnailSet(rec.SHA256)}
		if err := catalog.Purge(ctx, r.cat, r.blobs, rec.SHA256, keys, now); err != nil {
			r.log.Warn("remote retention: purging the content failed; the reconciler retries it", "media", rec.MXC(), "blob", purge, "err", err)
		}
	}
	total, err := r.cat.AddRemoteBytes(ctx, -rec.Size, 0)
	if err != nil {
		r.log.Warn("remote retention: updating the remote bytes count failed; `mediarepo catalog reindex` corrects it", "media", rec.MXC(), "err", err)
	}
	r.actions.WithLabelValues("remote_dropped").Inc()
	r.log.Info("cached remote media dropped after its retention", "media", rec.MXC(), "size", rec.Size,
		"fetched_at", fetchedAt(rec), "blob_purged", purge != "", "remote_bytes", total)
	return nil
}

// correctRemoteBytes sets the remote bytes count to what the records hold
// (measured by a walk that started when the count was before), keeping
// what changed during the walk: count += measured - before. Fetches that
// had reserved but not yet recorded their bytes when the walk started are
// then missing from the count until the next correction (the count errs
// low by at most the reservations in flight).
func (r *Reconciler) correctRemoteBytes(ctx context.Context, before, measured int64) error {
	if measured == before {
		return nil
	}
	total, err := r.cat.AddRemoteBytes(ctx, measured-before, 0)
	if err != nil {
		return fmt.Errorf("correcting the remote bytes count: %w", err)
	}
	r.actions.WithLabelValues("remote_bytes_corrected").Inc()
	r.log.Info("remote bytes count corrected", "counted", before, "measured", measured, "now", total)
	return nil
}
