package review

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/storage"
)

// moveOut moves the record's blob from the quarantine prefix back under
// the media prefix, then points the blob record and every record that
// used the quarantine key at the new one. Each step is idempotent: a
// repeat after a crash finishes the move. (The worker's quarantine move
// is the same walk in the other direction, see package worker.)
func (r *Reviewer) moveOut(ctx context.Context, rec media.Record) error {
	from := rec.BlobKey
	if !strings.HasPrefix(from, r.opts.QuarantinePrefix) {
		return nil
	}
	to := r.opts.MediaPrefix + strings.TrimPrefix(from, r.opts.QuarantinePrefix)
	err := r.blobs.Move(ctx, from, to)
	if errors.Is(err, storage.ErrNotFound) {
		if _, serr := r.blobs.Stat(ctx, to); serr != nil {
			return fmt.Errorf("review: blob %s is neither in quarantine nor moved out: %w", from, serr)
		}
		err = nil // moved by an earlier, interrupted call
	}
	if err != nil {
		return fmt.Errorf("review: moving the blob out of quarantine: %w", err)
	}
	_, _, err = r.cat.ModifyBlob(ctx, rec.SHA256, func(b *media.Blob) error {
		if b.BlobKey != from {
			return errNoChange
		}
		*b = b.MoveTo(to, false, r.now())
		return nil
	})
	if err != nil && !errors.Is(err, errNoChange) && !errors.Is(err, media.ErrNotFound) {
		return fmt.Errorf("review: blob record after the move: %w", err)
	}
	users, err := r.cat.ByHash(ctx, rec.SHA256)
	if err != nil {
		return err
	}
	for _, e := range users {
		if e.Record.BlobKey != from {
			continue
		}
		_, _, err := r.cat.Modify(ctx, e.Record.Origin, e.Record.ID, func(x *media.Record) error {
			if x.BlobKey != from {
				return errNoChange
			}
			x.BlobKey = to
			return nil
		})
		if err != nil && !errors.Is(err, errNoChange) && !errors.Is(err, media.ErrNotFound) {
			return fmt.Errorf("review: record %s after the move: %w", e.Record.MXC(), err)
		}
	}
	r.log.InfoContext(ctx, "blob moved out of quarantine", "from", from, "to", to, "records", len(users))
	return nil
}

// dropBlob releases a deleted record's content. When this call made the
// tombstone (dropRef), it drops the record's reference on the per-hash
// blob record; the stored blob is purged with the last reference (a
// record's private copy, kept when the shared blob was in quarantine, is
// purged at once), and the hash's thumbnails with it. A repeat (a delete
// of the tombstone) purges again whatever of the record's content no
// per-hash record references: a purge that failed before is retried. Every
// purge is marked first (catalog.Purge): one that fails stays marked and
// the reconciler retries it until it succeeds. With block, the hash is
// blocked (also on a repeat). A crash between the tombstone and the
// reference drop leaves the reference counted: the blob is then kept
// (unservable) rather than purged under another record.
func (r *Reviewer) dropBlob(ctx context.Context, q Request, rec media.Record, dropRef, block bool) (string, error) {
	if rec.SHA256 == "" {
		return "", nil
	}
	var purge []string
	var details []string
	var last bool
	b, rev, err := r.cat.ModifyBlob(ctx, rec.SHA256, func(b *media.Blob) error {
		purge, details, last = nil, nil, false
		changed := false
		if block && !b.Blocked {
			*b = b.Block("deleted by "+q.Actor+": "+q.Reason, r.now())
			details = append(details, "hash blocked")
			changed = true
		}
		switch {
		case rec.BlobKey != b.BlobKey:
			purge = append(purge, rec.BlobKey) // a private copy: nobody shares it
		case !dropRef:
			if b.RefCount <= 0 { // a repeat: the last reference went before
				purge = append(purge, b.BlobKey, media.ThumbnailSet(rec.SHA256))
			}
		default:
			next, isLast, err := b.DropRef(r.now())
			if err != nil {
				return err
			}
			*b, last = next, isLast
			if isLast {
				purge = append(purge, b.BlobKey, media.ThumbnailSet(rec.SHA256))
			}
			return nil
		}
		if !changed {
			return errNoChange
		}
		return nil
	})
	switch {
	case errors.Is(err, errNoChange):
	case errors.Is(err, media.ErrNotFound):
		// No per-hash record: nothing references the content any more.
		if rec.BlobKey != "" {
			purge = append(purge, rec.BlobKey)
		}
		purge = append(purge, media.ThumbnailSet(rec.SHA256))
		if block {
			if err := r.blockNew(ctx, q, rec); err != nil {
				return "", err
			}
			details = append(details, "hash blocked")
		}
	case err != nil:
		return "", fmt.Errorf("review: blob record: %w", err)
	}
	if len(purge) > 0 {
		if err := catalog.Purge(ctx, r.cat, r.blobs, rec.SHA256, purge, r.now()); err != nil {
			return join(append(details, "purge pending: retried by the reconciler")), fmt.Errorf("review: %w", err)
		}
		details = append(details, "blob purged")
	}
	if last && !b.Blocked {
		// Nothing refers to the hash any more and it is not blocked: the
		// next upload of these bytes starts afresh.
		if err := r.cat.DeleteBlob(ctx, rec.SHA256, rev); err != nil && !errors.Is(err, media.ErrConflict) {
			r.log.WarnContext(ctx, "removing an unreferenced blob record failed", "sha256", rec.SHA256, "err", err)
		}
	}
	if dropRef && !last && len(purge) == 0 {
		details = append(details, "blob kept: other records use it")
	}
	return join(details), nil
}

// blockNew creates a blocked blob record for a hash that has none.
func (r *Reviewer) blockNew(ctx context.Context, q Request, rec media.Record) error {
	b := media.NewBlob(rec.SHA256, "", rec.Size, r.now())
	b.RefCount = 0
	b = b.Block("blocked by "+q.Actor+": "+q.Reason, r.now())
	_, err := r.cat.CreateBlob(ctx, b)
	if errors.Is(err, media.ErrExists) {
		_, err = r.blockHash(ctx, q, rec.SHA256, rec.Size)
		return err
	}
	return err
}

// blockHash blocks uploads of the SHA-256 (creating the blob record when
// needed) and reports whether it was not blocked before.
func (r *Reviewer) blockHash(ctx context.Context, q Request, sha string, size int64) (bool, error) {
	changed := false
	_, _, err := r.cat.ModifyBlob(ctx, sha, func(b *media.Blob) error {
		changed = false
		if b.Blocked {
			return errNoChange
		}
		*b = b.Block("blocked by "+q.Actor+": "+q.Reason, r.now())
		changed = true
		return nil
	})
	switch {
	case errors.Is(err, errNoChange):
		return false, nil
	case errors.Is(err, media.ErrNotFound):
		return true, r.blockNew(ctx, q, media.Record{Content: media.Content{SHA256: sha, Size: size}})
	case err != nil:
		return false, fmt.Errorf("review: blocking hash: %w", err)
	}
	return changed, nil
}

// unblock lifts the hash block and reports whether there was one.
func (r *Reviewer) unblock(ctx context.Context, sha string) (bool, error) {
	lifted := false
	_, _, err := r.cat.ModifyBlob(ctx, sha, func(b *media.Blob) error {
		lifted = false
		if !b.Blocked {
			return errNoChange
		}
		*b = b.Unblock(r.now())
		lifted = true
		return nil
	})
	if errors.Is(err, errNoChange) || errors.Is(err, media.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("review: lifting hash block: %w", err)
	}
	return lifted, nil
}

// forgetVerdict clears the hash-level verdict so that the next scan of
// these bytes is a real one (a rescan must not reuse the old verdict).
func (r *Reviewer) forgetVerdict(ctx context.Context, sha string) error {
	_, _, err := r.cat.ModifyBlob(ctx, sha, func(b *media.Blob) error {
		if b.Verdict == nil {
			return errNoChange
		}
		b.Verdict = nil
		b.UpdatedAt = r.now()
		return nil
	})
	if err != nil && !errors.Is(err, errNoChange) && !errors.Is(err, media.ErrNotFound) {
		return fmt.Errorf("review: clearing the hash-level verdict: %w", err)
	}
	return nil
}
