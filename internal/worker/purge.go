package worker

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/storage"
)

// Two more kinds of intents are settled by the collector (collectIntents),
// at the same cost: one listing of the intents older than GCGrace.
//   - Purge marks (catalog.Purge): a deletion of a deleted or erased
//     record's blob, or of a hash's thumbnails, that failed or was
//     interrupted. It is tried again (unless the per-hash record references
//     the content again) every pass until it succeeds.
//   - Thumbnail intents: a thumbnail generation records its key before it
//     stores the thumbnail and removes the intent once it checked that the
//     hash still has a referenced per-hash record. A stale one is a
//     generation that died on the way, or one whose hash lost its last
//     reference meanwhile: its thumbnail is deleted unless the hash is
//     referenced. This is how thumbnail sets without a record are found
//     without listing the thumbnails.

// settlePurge settles a purge mark or a thumbnail intent.
func (r *Reconciler) settlePurge(ctx context.Context, in catalog.Intent) error {
	sha := in.SHA256
	if sha == "" && strings.HasPrefix(in.BlobKey, media.ThumbPrefix) {
		sha, _, _ = strings.Cut(strings.TrimPrefix(in.BlobKey, media.ThumbPrefix), "/")
	}
	in.SHA256 = sha
	if !in.Purge {
		// A thumbnail of the hash's set: judged like the set.
		ref, err := catalog.Referenced(ctx, r.cat, sha, media.ThumbnailSet(sha))
		if err != nil {
			return err
		}
		if ref {
			return r.cat.DeleteIntent(ctx, in.BlobKey)
		}
	}
	if err := catalog.SettlePurge(ctx, r.cat, r.blobs, in); err != nil {
		return err
	}
	r.actions.WithLabelValues("purged").Inc()
	r.log.Info("pending purge done", "key", in.BlobKey, "sha256", sha, "marked", in.CreatedAt)
	return nil
}

// collectThumbnails deletes the thumbnail sets older than GCGrace whose
// hash no per-hash record references: the operator's full collection
// (FullCollect) lists every thumbnail once; it finds sets cached before
// thumbnail intents existed. One per-hash record read per set.
func (r *Reconciler) collectThumbnails(ctx context.Context, now time.Time) error {
	sets := map[string]bool{} // sha256 → some thumbnail is younger than the grace period
	err := r.blobs.List(ctx, media.ThumbPrefix, func(info storage.Info) error {
		sha, _, _ := strings.Cut(strings.TrimPrefix(info.Key, media.ThumbPrefix), "/")
		sets[sha] = sets[sha] || now.Sub(info.ModTime) < r.opts.GCGrace
		return nil
	})
	if err != nil {
		return fmt.Errorf("collecting thumbnails: listing %s: %w", media.ThumbPrefix, err)
	}
	for sha, young := range sets {
		if young || !media.ValidSHA256(sha) {
			continue
		}
		set := media.ThumbnailSet(sha)
		ref, err := catalog.Referenced(ctx, r.cat, sha, set)
		if err != nil {
			return fmt.Errorf("collecting thumbnails of %s: %w", sha, err)
		}
		if ref {
			continue
		}
		if err := catalog.SettlePurge(ctx, r.cat, r.blobs, catalog.Intent{BlobKey: set, SHA256: sha, Purge: true}); err != nil {
			return fmt.Errorf("collecting thumbnails of %s: %w", sha, err)
		}
		r.actions.WithLabelValues("collected").Inc()
		r.log.Info("thumbnails without a record collected", "sha256", sha)
	}
	return nil
}
