package catalog

import (
	"context"
	"fmt"
	"time"

	"github.com/mediarepo/mediarepo/internal/media"
)

// Rescans after a signature update (design §5b): the rescan walks the
// clean media uploaded within a window, oldest first, through an index by
// upload time, and keeps its progress in the catalog so that another
// replica (or this one after a restart) continues where it stopped.

// MaxCleanPage is the largest page ListCleanByUpload returns.
const MaxCleanPage = 1000

// UploadPosition is a record's place in the upload-time order: oldest
// UploadedAt first; among equal times, origin and then media ID ascending
// (byte-wise). The order is total, so a position names one record.
type UploadPosition struct {
	UploadedAt time.Time `json:"uploaded_at"`
	Origin     string    `json:"origin"`
	ID         string    `json:"id"`
}

// UploadPositionOf returns the record's position in the upload-time order.
func UploadPositionOf(r media.Record) UploadPosition {
	return UploadPosition{UploadedAt: r.UploadedAt, Origin: r.Origin, ID: r.ID}
}

// Before reports whether p comes before q in the upload-time order.
func (p UploadPosition) Before(q UploadPosition) bool {
	a, b := p.UploadedAt.UnixNano(), q.UploadedAt.UnixNano()
	switch {
	case a != b:
		return a < b
	case p.Origin != q.Origin:
		return p.Origin < q.Origin
	default:
		return p.ID < q.ID
	}
}

// CleanQuery selects clean records by upload time (ListCleanByUpload).
type CleanQuery struct {
	// Since is the window's start: only records with Since ≤ UploadedAt.
	Since time.Time
	// After continues a listing after this position (keyset pagination).
	After *UploadPosition
	// Limit is the page size, 1 to MaxCleanPage.
	Limit int
}

// Validate checks the page size; errors wrap media.ErrInvalidID.
func (q CleanQuery) Validate() error {
	if q.Limit < 1 || q.Limit > MaxCleanPage {
		return fmt.Errorf("%w: page size %d is not within 1..%d", media.ErrInvalidID, q.Limit, MaxCleanPage)
	}
	return nil
}

// Match reports whether a record passes the query (clean, uploaded at or
// after Since, strictly after After).
func (q CleanQuery) Match(r media.Record) bool {
	switch {
	case r.State != media.StateClean, r.UploadedAt.IsZero(),
		r.UploadedAt.Before(q.Since),
		q.After != nil && !q.After.Before(UploadPositionOf(r)):
		return false
	}
	return true
}

// RescanState is the progress of the rescan after a signature update,
// shared by every replica (whichever holds the reconciler lease continues
// it). The worker's rescanner owns its meaning; the catalog stores it.
type RescanState struct {
	// Basis names the engines' versions the rescan scans with
	// (scan.ReuseBasis without the inspection).
	Basis string `json:"basis"`
	// Previous is the basis the media in the window were scanned with
	// before the update ("" for the first basis ever seen).
	Previous string `json:"previous,omitempty"`
	// StartedAt is when the new basis was seen; Since is the window's
	// start (StartedAt less the configured window).
	StartedAt time.Time `json:"started_at"`
	Since     time.Time `json:"since"`
	// Cursor is the last record handled; nil before the first.
	Cursor *UploadPosition `json:"cursor,omitempty"`
	// Pending names a record the rescan found infected whose follow-ups
	// (quarantine of its copies, report, audit, hash block) may not have
	// finished: the next step finishes them first.
	Pending *UploadPosition `json:"pending,omitempty"`
	// Total is the number of records in the window that were due when the
	// rescan started (counted once then); Total - Done is what remains.
	Total int64 `json:"total"`
	// Done counts the records rescanned (media scanned with Basis
	// already, or released by an officer, are passed over uncounted),
	// Infected those quarantined by the rescan (copies of the same bytes
	// included), Failed those left as they were because their blob could
	// not be read.
	Done     int64 `json:"done"`
	Infected int64 `json:"infected"`
	Failed   int64 `json:"failed,omitempty"`
	// Again is set when the basis changed while this walk ran: the walk
	// goes on with the new basis (the records ahead are scanned with the
	// newest signatures) and, when it ends, the window is walked once
	// more for the records it passed under AgainFrom, the basis before
	// the change. So signature updates that come faster than a walk
	// never keep the newest media from being rescanned.
	Again     bool   `json:"again,omitempty"`
	AgainFrom string `json:"again_from,omitempty"`
	// FinishedAt is set when the window was walked to its end.
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// Rescans lists clean media by upload time and keeps the rescan's state.
type Rescans interface {
	// ListCleanByUpload returns up to q.Limit clean records with a
	// non-zero UploadedAt matching q, in upload-time order
	// (UploadPosition). Continue with q.After set to the position of the
	// last record returned; the end is a page shorter than the limit
	// (KV: records uploaded more than an hour after the call's clock are
	// not listed yet). Its cost grows with the clean records uploaded
	// since the cursor's time (PostgreSQL: with the page), never with the
	// catalog. An invalid query is refused (CleanQuery.Validate).
	ListCleanByUpload(ctx context.Context, q CleanQuery) ([]Entry, error)
	// GetRescanState returns the stored state and its revision, or an
	// error wrapping media.ErrNotFound when none was stored.
	GetRescanState(ctx context.Context) (RescanState, uint64, error)
	// PutRescanState stores st if the stored state is still at rev (0:
	// none is stored yet) and returns the new revision; otherwise
	// media.ErrConflict.
	PutRescanState(ctx context.Context, st RescanState, rev uint64) (uint64, error)
}
