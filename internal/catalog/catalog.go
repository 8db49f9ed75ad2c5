// Package catalog is the contract for what the media repository keeps
// about media (design §5): media records, per-hash blob records, their
// lookups, leases, counters and per-key verdicts. The Catalog interface is
// what the service, the workers, the reconciler and the officers' review
// use. Its backends live one folder below, interchangeable behind it:
// internal/catalog/kv (NATS JetStream key-value buckets, the embedded
// default) and internal/catalog/postgres; internal/catalog/catalogtest is
// the one conformance suite both pass. Rules shared by every backend
// (Apply, ReleaseBlob) live here, above the backends.
//
// Every write of a record or blob record is a compare-and-set on its
// revision: Create never overwrites, Update fails with media.ErrConflict
// when someone else wrote first, and Modify retries read → change → CAS.
package catalog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mediarepo/mediarepo/internal/media"
)

// Errors of the catalog beyond the media sentinels.
var (
	// ErrLeaseHeld means another holder has the lease and it has not expired.
	ErrLeaseHeld = errors.New("catalog: lease held by another holder")
	// ErrLeaseLost means a lease could not be renewed or released because it
	// expired or another holder took it.
	ErrLeaseLost = errors.New("catalog: lease lost")
	// ErrQuotaExceeded means a counter would pass its limit; nothing was
	// added.
	ErrQuotaExceeded = errors.New("catalog: quota exceeded")
	// ErrUnavailable means the catalog's store could not be reached (a
	// database that is down or restarting): nothing was read or written
	// as far as the caller can tell, and retrying later may succeed. It
	// never means "not found": callers fail closed and serve nothing.
	ErrUnavailable = errors.New("catalog: store unavailable")
	// ErrOutcomeUnknown means the connection to the catalog's store was
	// lost while a write was on its way or being committed: the write may
	// have happened or not. It wraps ErrUnavailable (503, retry later);
	// the caller must not undo what the write would have made permanent
	// (an upload keeps its blob and intent, and the collector settles
	// them from what the catalog then says).
	ErrOutcomeUnknown = fmt.Errorf("%w: the write's outcome is unknown", ErrUnavailable)
)

// Entry is a record with the revision it was read at; pass the revision
// to Update for a compare-and-set.
type Entry struct {
	Record   media.Record
	Revision uint64
}

// Records stores media records by (origin, ID).
//
// Methods validate origin and ID first (errors wrap media.ErrInvalidServerName
// or media.ErrInvalidID). A missing record is media.ErrNotFound; a lost
// compare-and-set is media.ErrConflict. Cancelling ctx aborts the call.
type Records interface {
	// Create stores a new record and returns its revision; it fails with
	// media.ErrExists when the key exists.
	Create(ctx context.Context, rec media.Record) (uint64, error)
	// Get returns the record and its revision.
	Get(ctx context.Context, origin, id string) (media.Record, uint64, error)
	// Update replaces the record if it is still at rev and returns the new
	// revision; otherwise media.ErrConflict.
	Update(ctx context.Context, rec media.Record, rev uint64) (uint64, error)
	// Modify reads the record, calls fn on a copy and writes it back with a
	// compare-and-set, retrying on conflicts (fn may run several times and
	// must not have side effects). An error from fn aborts and is returned
	// as is. fn must not change Origin or ID. It returns the stored record
	// and its revision; after too many conflicts, media.ErrConflict.
	Modify(ctx context.Context, origin, id string, fn func(*media.Record) error) (media.Record, uint64, error)
	// Delete removes the record if it is still at rev (media.ErrConflict
	// otherwise, media.ErrNotFound when it is gone), so that the key can be
	// created afresh: for cached remote media past its retention, never
	// for a decision that must persist (officers keep a tombstone
	// instead). Lookups stop returning it.
	Delete(ctx context.Context, origin, id string, rev uint64) error
}

// Blobs stores per-hash blob records (design §4) keyed by SHA-256, with
// the same compare-and-set rules as Records. An invalid hash wraps
// media.ErrInvalidID.
type Blobs interface {
	CreateBlob(ctx context.Context, b media.Blob) (uint64, error)
	GetBlob(ctx context.Context, sha256 string) (media.Blob, uint64, error)
	UpdateBlob(ctx context.Context, b media.Blob, rev uint64) (uint64, error)
	ModifyBlob(ctx context.Context, sha256 string, fn func(*media.Blob) error) (media.Blob, uint64, error)
	// DeleteBlob removes the blob record if it is still at rev (for a blob
	// whose last reference went and whose hash is not blocked).
	DeleteBlob(ctx context.Context, sha256 string, rev uint64) error
}

// Lookups finds records by their secondary keys. Every result agrees with
// the stored record (backends with derived indexes check each entry
// against its record).
type Lookups interface {
	// ByHash returns the records whose content has this SHA-256.
	ByHash(ctx context.Context, sha256 string) ([]Entry, error)
	// ByUploader calls fn for every record created by this user, a batch
	// at a time, so that memory follows the batch and not the user's
	// media (a bridge or a bot may own millions). An error from fn stops
	// the listing and is returned. fn may change the record it is given:
	// every record that exists when the listing starts is passed exactly
	// once, whatever fn does to it (PostgreSQL lists newest change first,
	// and a change moves the record before the cursor).
	ByUploader(ctx context.Context, userID string, fn func(Entry) error) error
	// ListByState calls fn for every record in state, in no particular
	// order; an error from fn stops the listing and is returned. Reserved,
	// pending, quarantined and blocked are indexed; other states may cost
	// a walk of every record.
	ListByState(ctx context.Context, state media.State, fn func(Entry) error) error
	// Walk calls fn for every record.
	Walk(ctx context.Context, fn func(Entry) error) error
	// List returns up to q.Limit records matching q, in listing order
	// (see Position): the officers' page. Continue with q.After set to
	// the PositionOf the last record returned; the end is a page shorter
	// than the limit. Its cost grows with the records of the listed
	// states (KV) or with the page (PostgreSQL), never with the whole
	// catalog when only reserved, pending, quarantined or blocked are
	// listed. An invalid query is refused (ListQuery.Validate).
	List(ctx context.Context, q ListQuery) ([]Entry, error)
}

// Uploads records the content of an upload.
type Uploads interface {
	// RecordUpload takes a reference on the per-hash blob record of the
	// upload's content (creating it with the upload's blob, or sharing the
	// stored blob under the rule of Share) and writes the record: created
	// when up.Revision is 0, else replacing the record at that revision
	// (an async upload into its reservation); it removes up.Intent. A
	// backend with transactions does all of it in one; KV completes the
	// intent with the hash first, gives the reference back when the
	// record write fails, and removes the intent last. The record must be
	// pending with a hash and a blob key (CheckUpload). Errors:
	// media.ErrHashBlocked (nothing changed), media.ErrExists,
	// media.ErrConflict and media.ErrNotFound for the record; on any error
	// the reference is not kept, the intent stays (the caller removes it
	// once it deleted Stored.Unused), and Stored.Unused names the blob the
	// caller must delete.
	RecordUpload(ctx context.Context, up Upload) (Stored, error)
}

// Waiter serves long-polling downloads.
type Waiter interface {
	// WaitFor returns the record as soon as cond holds for it (at once if
	// it already does), media.ErrNotFound if the record does not exist or
	// disappears, or ctx's error when ctx ends first. All waiters of a
	// process share one watch or listener.
	WaitFor(ctx context.Context, origin, id string, cond func(media.Record) bool) (media.Record, error)
}

// Lease is a held leader lock.
type Lease struct {
	Name     string
	Holder   string
	Revision uint64
	// Expires is when the lease lapses unless renewed (local clock).
	Expires time.Time
}

// Leases is a leader lock with a time-to-live, so that one reconciler
// runs among replicas.
type Leases interface {
	// AcquireLease takes the named lease for holder for ttl, or renews it
	// when holder already has it. It fails with ErrLeaseHeld when another
	// holder has it. Call it again well before Expires (e.g. every ttl/3);
	// holder must be unique per process (host name plus a random suffix).
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (Lease, error)
	// ReleaseLease gives the lease up early; ErrLeaseLost if it was lost.
	ReleaseLease(ctx context.Context, l Lease) error
}

// Counters are deployment-wide counters shared by every replica, changed
// by compare-and-set.
type Counters interface {
	// AddRemoteBytes adds delta to the bytes of cached remote media and
	// returns the new total. A positive delta that would take the total
	// over limit (limit > 0) is refused with ErrQuotaExceeded and adds
	// nothing; limit ≤ 0 means unlimited. The total never goes below 0.
	AddRemoteBytes(ctx context.Context, delta, limit int64) (int64, error)
	// RemoteBytes returns the current total.
	RemoteBytes(ctx context.Context) (int64, error)
}

// KeyVerdicts keeps the verdicts of encrypted media scanned with a
// client-supplied key (design §2a): one per (media, SHA-256 of the key
// material). Only the digest is ever stored, never the key. Entries expire
// (after a backend-defined time, 24h by default), so a key is scanned again with newer signatures.
type KeyVerdicts interface {
	// GetKeyVerdict returns the verdict, or an error wrapping
	// media.ErrNotFound when none is kept.
	GetKeyVerdict(ctx context.Context, origin, id string, keyDigest [32]byte) (media.Verdict, error)
	// PutKeyVerdict stores the verdict, replacing an older one.
	PutKeyVerdict(ctx context.Context, origin, id string, keyDigest [32]byte, v media.Verdict) error
}

// ReindexStats counts what a backend's index repair (Reindex) did; only
// backends with derived indexes (KV) have one.
type ReindexStats struct {
	Records int // records walked
	Added   int // missing index entries written
	Removed int // index entries removed as contradicting their record
}

// Catalog is everything the media repository keeps about media.
type Catalog interface {
	Records
	Blobs
	Lookups
	Uploads
	Waiter
	Leases
	Counters
	KeyVerdicts
	Intents
	Reservations
	RemoteRetention
	Usages
	Rescans
}

// Apply applies one state-machine change to the stored record with a
// compare-and-set (retried on conflicts) and returns the stored result.
// Refusals of the state machine (media.ErrStale, media.ErrInvalidTransition,
// ...) are returned as is and change nothing.
func Apply(ctx context.Context, r Records, origin, id string, c media.Change) (media.Record, uint64, error) {
	return r.Modify(ctx, origin, id, func(rec *media.Record) error {
		next, err := rec.Apply(c)
		if err != nil {
			return err
		}
		*rec = next
		return nil
	})
}
