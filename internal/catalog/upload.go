package catalog

import (
	"fmt"
	"time"

	"github.com/mediarepo/mediarepo/internal/media"
)

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
	// Next is the blob record to write back (with one more reference)
	// when Shared; unchanged otherwise.
	Next media.Blob
	// Shared: the upload uses Next.BlobKey and took a reference on it.
	Shared bool
}

// Share is the one rule for an upload that finds a blob record for its
// content: a blocked hash refuses the upload (media.ErrHashBlocked, nothing
// changes); a blob in quarantine or about to be purged (no references)
// is not shared: the upload keeps its own blob and takes no reference;
// otherwise the upload shares the stored blob and takes a reference.
func Share(existing media.Blob, at time.Time) (ShareDecision, error) {
	if existing.Blocked {
		return ShareDecision{}, fmt.Errorf("%w: %s", media.ErrHashBlocked, existing.BlockReason)
	}
	if existing.Quarantined || existing.RefCount <= 0 {
		return ShareDecision{Next: existing}, nil
	}
	next, err := existing.AddRef(at)
	if err != nil {
		return ShareDecision{}, err
	}
	return ShareDecision{Next: next, Shared: true}, nil
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
