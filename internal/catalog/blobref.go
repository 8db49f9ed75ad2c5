package catalog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mediarepo/mediarepo/internal/media"
)

// BlobRefs is what ReleaseBlob needs of the catalog (Blobs has it).
type BlobRefs interface {
	GetBlob(ctx context.Context, sha256 string) (media.Blob, uint64, error)
	UpdateBlob(ctx context.Context, b media.Blob, rev uint64) (uint64, error)
	DeleteBlob(ctx context.Context, sha256 string, rev uint64) error
}

// ReleaseBlob gives up the reference that one media record's content
// (sha256 stored at blobKey) holds, with compare-and-set retries, and
// returns the storage key the caller must now delete from the blob store
// ("" when none):
//   - the shared blob, when this was its last reference; the blob record
//     goes too unless its hash is blocked, so the next upload or fetch of
//     these bytes starts afresh (and is scanned again);
//   - blobKey itself when it is a private copy: an upload that found the
//     shared blob in quarantine or being purged keeps its own blob and
//     holds no reference on the blob record;
//   - "" when other records still use the blob, or when the blob record is
//     gone (the reconciler collects blobs that no record names).
//
// Call it after the media record stopped naming the blob (deleted, or
// never created): a crash in between leaves a reference counted and the
// blob kept, never a record pointing at a purged blob.
func ReleaseBlob(ctx context.Context, c BlobRefs, sha256, blobKey string, at time.Time) (string, error) {
	for range 16 {
		b, rev, err := c.GetBlob(ctx, sha256)
		if errors.Is(err, media.ErrNotFound) {
			return "", nil
		}
		if err != nil {
			return "", err
		}
		if b.BlobKey != blobKey {
			return blobKey, nil
		}
		next, last, err := b.DropRef(at)
		if err != nil {
			return "", err
		}
		newRev, err := c.UpdateBlob(ctx, next, rev)
		if errors.Is(err, media.ErrConflict) {
			continue
		}
		if err != nil {
			return "", err
		}
		if !last {
			return "", nil
		}
		if !next.Blocked {
			// A conflict means someone changed it meanwhile (an officer's
			// block): the record stays, at zero references.
			if err := c.DeleteBlob(ctx, sha256, newRev); err != nil && !errors.Is(err, media.ErrConflict) {
				return b.BlobKey, err
			}
		}
		return b.BlobKey, nil
	}
	return "", fmt.Errorf("%w: blob record %s kept changing", media.ErrConflict, sha256)
}
