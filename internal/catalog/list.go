package catalog

import (
	"fmt"
	"slices"
	"time"

	"github.com/mediarepo/mediarepo/internal/media"
)

// MaxListLimit is the largest page List returns.
const MaxListLimit = 1000

// ListQuery selects records for the officers' listing (List). Zero fields
// match everything except States, which must name at least one state.
type ListQuery struct {
	// States to list.
	States []media.State
	// Since and Until bound ChangedAt: Since ≤ ChangedAt < Until.
	Since, Until time.Time
	// Uploader and Origin, when set, must equal the record's.
	Uploader string
	Origin   string
	// After continues a listing after this position (keyset pagination):
	// only records strictly after it in listing order are returned.
	After *Position
	// Limit is the page size, 1 to MaxListLimit.
	Limit int
}

// Position is a record's place in the listing order: newest ChangedAt
// first; among equal times, origin and then media ID descending
// (byte-wise). The order is total, so a position names one record.
type Position struct {
	ChangedAt time.Time
	Origin    string
	ID        string
}

// PositionOf returns the record's position in the listing order.
func PositionOf(r media.Record) Position {
	return Position{ChangedAt: ChangedAt(r), Origin: r.Origin, ID: r.ID}
}

// Before reports whether p comes before q in the listing order.
func (p Position) Before(q Position) bool {
	a, b := p.ChangedAt.UnixNano(), q.ChangedAt.UnixNano()
	switch {
	case a != b:
		return a > b
	case p.Origin != q.Origin:
		return p.Origin > q.Origin
	default:
		return p.ID > q.ID
	}
}

// ChangedAt is the time of the record's last history event (its creation
// when it has none): what the officers' listing sorts and filters by.
func ChangedAt(r media.Record) time.Time {
	if n := len(r.History); n > 0 {
		return r.History[n-1].At
	}
	return r.CreatedAt
}

// Validate checks the query: at least one valid state, a limit in range,
// valid uploader and origin when given. Errors wrap media.ErrInvalidID,
// media.ErrInvalidUserID, media.ErrInvalidServerName or
// media.ErrInvalidTransition (an unknown state).
func (q ListQuery) Validate() error {
	if len(q.States) == 0 {
		return fmt.Errorf("%w: a listing needs at least one state", media.ErrInvalidTransition)
	}
	for _, s := range q.States {
		if !s.Valid() {
			return fmt.Errorf("%w: unknown state %q", media.ErrInvalidTransition, s)
		}
	}
	if q.Limit < 1 || q.Limit > MaxListLimit {
		return fmt.Errorf("%w: list limit %d is not within 1..%d", media.ErrInvalidID, q.Limit, MaxListLimit)
	}
	if q.Uploader != "" {
		if err := media.ValidateUserID(q.Uploader); err != nil {
			return err
		}
	}
	if q.Origin != "" {
		if err := media.ValidateServerName(q.Origin); err != nil {
			return err
		}
	}
	return nil
}

// Match reports whether the record passes the query's filters (states,
// times, uploader, origin and the After position).
func (q ListQuery) Match(r media.Record) bool {
	at := ChangedAt(r)
	switch {
	case !slices.Contains(q.States, r.State),
		!q.Since.IsZero() && at.Before(q.Since),
		!q.Until.IsZero() && !at.Before(q.Until),
		q.Uploader != "" && r.Uploader != q.Uploader,
		q.Origin != "" && r.Origin != q.Origin,
		q.After != nil && !q.After.Before(PositionOf(r)):
		return false
	}
	return true
}

// SortPage sorts entries into listing order and keeps the first limit:
// what a backend without an ordered index does after filtering with Match.
func SortPage(entries []Entry, limit int) []Entry {
	slices.SortFunc(entries, func(a, b Entry) int {
		pa, pb := PositionOf(a.Record), PositionOf(b.Record)
		switch {
		case pa.Before(pb):
			return -1
		case pb.Before(pa):
			return 1
		}
		return 0
	})
	return entries[:min(limit, len(entries))]
}
