package catalog

import (
	"context"
	"time"

	"github.com/mediarepo/mediarepo/internal/media"
)

// Maintenance that never reads everything (design §5a): the reconciler's
// periodic work finds what it acts on through these, at a cost that grows
// with the media it acts on, never with the catalog.

// Intent is an upload in flight. The upload records it before the blob is
// put, adds the content's hash once the blob is stored (before the per-hash
// record is touched), and removes it once the media record names the
// content. An intent older than the collector's grace period is an upload
// that crashed on the way (worker/intents.go).
type Intent struct {
	// BlobKey is the storage key the upload writes; the intent's key.
	BlobKey string `json:"blob_key"`
	// Origin and ID name the media record the upload is for.
	Origin string `json:"origin"`
	ID     string `json:"id"`
	// SHA256 is set once the blob is stored, before the per-hash record is
	// created or shared.
	SHA256    string    `json:"sha256,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// Purge marks a pending deletion rather than an upload (purge.go):
	// BlobKey (everything under it when it ends in "/") is to be deleted
	// unless the per-hash record of SHA256 still references it; the
	// reconciler retries it until it succeeds.
	Purge bool `json:"purge,omitempty"`
}

// Intents keeps upload intents.
type Intents interface {
	// PutIntent stores in, replacing the intent of the same BlobKey.
	PutIntent(ctx context.Context, in Intent) error
	// DeleteIntent removes the intent of blobKey; a missing one is not an
	// error.
	DeleteIntent(ctx context.Context, blobKey string) error
	// ListIntents calls fn for every intent whose CreatedAt is before
	// before (every intent when before is zero). Its cost grows with the
	// number of intents (uploads in flight and crashed ones), not with the
	// catalog.
	ListIntents(ctx context.Context, before time.Time, fn func(Intent) error) error
}

// Reservations bounds the open async-upload reservations per user.
type Reservations interface {
	// Reserve creates rec (a reserved record, media.NewReserved) unless its
	// uploader already holds limit open reservations (reserved and not
	// expired at rec.CreatedAt): then it fails with an error wrapping
	// media.ErrLimitExceeded and creates nothing. The count and the create
	// are one atomic step across every process of the deployment, and the
	// count reads only the uploader's reservations, never their other
	// records. A key that exists is media.ErrExists.
	Reserve(ctx context.Context, rec media.Record, limit int) (uint64, error)
}

// RemoteRetention finds cached remote media by the time of its fetch.
type RemoteRetention interface {
	// ListRemoteBefore calls fn, roughly oldest first, for cached remote
	// records (Record.Remote) fetched (UploadedAt) before before that may
	// be dropped by the retention: the clean ones. Records that are gone
	// or kept for good leave the listing; pending, quarantined and blocked
	// ones stay in it (they may become clean). Its cost grows with the
	// records fetched before before, not with the catalog.
	ListRemoteBefore(ctx context.Context, before time.Time, fn func(Entry) error) error
}
