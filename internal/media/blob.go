package media

import (
	"fmt"
	"time"
)

// Blob is the per-hash record of design §4: identical plaintext (same
// SHA-256) is stored once and shared by every media record that has it.
// The catalog changes it by compare-and-set only; its methods are pure and
// return the changed copy.
type Blob struct {
	// SHA256 is the lowercase hex SHA-256 of the plaintext; the key.
	SHA256 string `json:"sha256"`
	// BlobKey is the storage key of the sealed blob.
	BlobKey string `json:"blob_key"`
	Size    int64  `json:"size"`
	// RefCount is the number of media records that use the blob. The blob
	// is moved or purged only when the last reference goes.
	RefCount int64 `json:"ref_count"`
	// Verdict is the hash-level verdict: the last scan of these bytes.
	// Another record with the same hash may reuse it when it was made with
	// the current signature version (ReusableVerdict).
	Verdict *Verdict `json:"verdict,omitempty"`
	// Blocked: uploads of this hash are refused with ErrHashBlocked. Set by
	// an infected verdict or an officer's delete; lifted only explicitly.
	Blocked     bool   `json:"blocked,omitempty"`
	BlockReason string `json:"block_reason,omitempty"`
	// Quarantined: the blob was moved to the quarantine prefix, which the
	// download path cannot read.
	Quarantined bool      `json:"quarantined,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// NewBlob returns the record of a newly stored blob with one reference.
func NewBlob(sha256, blobKey string, size int64, at time.Time) Blob {
	return Blob{SHA256: sha256, BlobKey: blobKey, Size: size, RefCount: 1, CreatedAt: at, UpdatedAt: at}
}

// AddRef returns the blob with one more reference, or ErrHashBlocked when
// the hash is blocked (the upload is refused and nothing is kept).
func (b Blob) AddRef(at time.Time) (Blob, error) {
	if b.Blocked {
		return b, fmt.Errorf("%w: %s", ErrHashBlocked, b.SHA256)
	}
	b.RefCount++
	b.UpdatedAt = at
	return b, nil
}

// DropRef returns the blob with one reference fewer; last is true when no
// reference remains (the caller may then purge or move the stored blob).
// Dropping from zero fails with ErrRefCount.
func (b Blob) DropRef(at time.Time) (next Blob, last bool, err error) {
	if b.RefCount <= 0 {
		return b, false, fmt.Errorf("%w: %s", ErrRefCount, b.SHA256)
	}
	b.RefCount--
	b.UpdatedAt = at
	return b, b.RefCount == 0, nil
}

// WithVerdict records the hash-level verdict. An infected verdict also
// blocks the hash, so the same bytes are refused at upload from now on.
func (b Blob) WithVerdict(v Verdict, at time.Time) Blob {
	b.Verdict = &v
	b.UpdatedAt = at
	if v.Result == ResultInfected {
		b.Blocked = true
		b.BlockReason = "infected: " + v.Signature
	}
	return b
}

// ReusableVerdict returns the hash-level verdict when it was made on the
// given (non-empty) basis (Verdict.Basis: the same engines, engine and
// signature versions and inspection limits a scan would use now) and is a
// real scan result (clean, infected or unscannable). A failed scan or a
// policy decision is never reused, and neither is a clean verdict of a
// blocked hash.
func (b Blob) ReusableVerdict(basis string) (Verdict, bool) {
	if b.Verdict == nil || basis == "" || b.Verdict.Basis != basis {
		return Verdict{}, false
	}
	switch b.Verdict.Result {
	case ResultClean:
		if b.Blocked {
			return Verdict{}, false
		}
		return *b.Verdict, true
	case ResultInfected, ResultUnscannable:
		return *b.Verdict, true
	}
	return Verdict{}, false
}

// Block returns the blob with uploads of its hash refused.
func (b Blob) Block(reason string, at time.Time) Blob {
	b.Blocked = true
	b.BlockReason = reason
	b.UpdatedAt = at
	return b
}

// Unblock lifts the hash block (an officer's release that says so).
func (b Blob) Unblock(at time.Time) Blob {
	b.Blocked = false
	b.BlockReason = ""
	b.UpdatedAt = at
	return b
}

// MoveTo records that the stored blob now lives under key, in quarantine
// or back out of it.
func (b Blob) MoveTo(key string, quarantined bool, at time.Time) Blob {
	b.BlobKey = key
	b.Quarantined = quarantined
	b.UpdatedAt = at
	return b
}

// Blob key prefixes in the blob store. Uploads write under BlobPrefix, the
// only prefix downloads read; infected blobs move under QuarantinePrefix,
// which the download path refuses.
const (
	BlobPrefix       = "media/"
	QuarantinePrefix = "quarantine/"
	// ThumbPrefix holds the generated thumbnails, one set per content
	// hash (ThumbnailSet), shared by every record with those bytes.
	ThumbPrefix = "thumbs/"
)

// ThumbnailSet is the key prefix of the thumbnails of the content sha256.
func ThumbnailSet(sha256 string) string { return ThumbPrefix + sha256 + "/" }
