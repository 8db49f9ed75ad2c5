package catalog

import (
	"context"
	"fmt"
	"time"

	"github.com/mediarepo/mediarepo/internal/media"
)

// Upload is what RecordUpload writes.
type Upload struct {
	// Record is the pending record; its BlobKey is the upload's own blob.
	Record media.Record
	// Revision is the reservation's revision for an async upload; 0
	// creates the record.
	Revision uint64
	// At is the time of the blob record's change.
	At time.Time
	// Intent is the blob key of the upload's intent (catalog.Intents),
	// removed with the write; "" when there is none.
	Intent string
	// BlobStored reports whether a stored blob still exists before it is
	// shared (nil: assume it does). A per-hash record that names a
	// missing blob (a crash, then the blob collected) is taken over by the
	// upload's own blob instead of being shared.
	BlobStored func(ctx context.Context, key string) (bool, error)
}

// Stored is the outcome of RecordUpload.
type Stored struct {
	// Record is the record as written: its BlobKey is the shared blob's
	// when identical content was stored before.
	Record   media.Record
	Revision uint64
	// Unused is a blob key no record uses any more ("" if none): the
	// caller deletes it from the blob store. After a duplicate upload it
	// is the caller's own copy; after a failure, the caller's blob unless
	// another upload came to share it meanwhile.
	Unused string
}

// ShareDecision is what an upload of content does with an existing
// per-hash blob record (design §4), decided by Share.
type ShareDecision struct {
	// Key is the blob key the upload's record uses.
	Key string
	// Write: Next must be written back over the blob record (with the
	// upload's reference); otherwise the blob record stays as it is.
	Write bool
	Next  media.Blob
}

// Share is the one rule for an upload of content whose hash has a blob
// record (existing), own being the upload's blob:
//   - a blocked hash refuses the upload (media.ErrHashBlocked);
//   - a blob in quarantine or about to be purged (no references) is not
//     shared: the upload keeps its own blob and takes no reference;
//   - a blob that is no longer stored (stored reports false) is taken
//     over: the record names the upload's blob with one reference;
//   - otherwise the upload shares the stored blob with one more reference.
//
// stored may be nil (assume stored).
func Share(ctx context.Context, existing media.Blob, own string, at time.Time, stored func(ctx context.Context, key string) (bool, error)) (ShareDecision, error) {
	if existing.Blocked {
		return ShareDecision{}, fmt.Errorf("%w: %s", media.ErrHashBlocked, existing.BlockReason)
	}
	if existing.Quarantined || existing.RefCount <= 0 {
		return ShareDecision{Key: own, Next: existing}, nil
	}
	if stored != nil {
		ok, err := stored(ctx, existing.BlobKey)
		if err != nil {
			return ShareDecision{}, fmt.Errorf("checking the shared blob: %w", err)
		}
		if !ok {
			next := existing.MoveTo(own, false, at)
			next.RefCount = 1
			return ShareDecision{Key: own, Write: true, Next: next}, nil
		}
	}
	next, err := existing.AddRef(at)
	if err != nil {
		return ShareDecision{}, err
	}
	return ShareDecision{Key: existing.BlobKey, Write: true, Next: next}, nil
}

// CheckUpload validates what RecordUpload is given: a record in state
// pending with content (hash and blob key) and a valid key.
func CheckUpload(rec media.Record) error {
	if rec.State != media.StatePending {
		return fmt.Errorf("%w: an upload records pending media, not %s", media.ErrInvalidTransition, rec.State)
	}
	if !media.ValidSHA256(rec.SHA256) || rec.BlobKey == "" {
		return fmt.Errorf("%w: an upload needs a SHA-256 and a blob key", media.ErrInvalidID)
	}
	if err := media.ValidateServerName(rec.Origin); err != nil {
		return err
	}
	return media.ValidateMediaID(rec.ID)
}
