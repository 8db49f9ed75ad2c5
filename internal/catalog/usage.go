package catalog

import "context"

// Usage is what one user's media takes: bytes of content and files.
type Usage struct {
	Bytes int64 `json:"bytes"`
	Files int64 `json:"files"`
}

// UserUsage is one user's usage, for the officers' listing.
type UserUsage struct {
	UserID string
	Usage
}

// Usages keeps a per-user usage counter (bytes and files of the media a
// user uploaded or had imported), changed atomically, so that quotas
// (MSC4335) and usage (MSC4034) never read the user's records.
type Usages interface {
	// AddUsage adds delta to userID's usage and returns the new total. A
	// delta with a positive part that would take that part over its limit
	// (a limit field > 0; 0 is unlimited) is refused with
	// ErrQuotaExceeded and adds nothing. Totals never go below 0.
	AddUsage(ctx context.Context, userID string, delta, limit Usage) (Usage, error)
	// GetUsage returns userID's usage (zero for a user never counted).
	GetUsage(ctx context.Context, userID string) (Usage, error)
	// TopUsages returns up to n users with the most bytes, largest first.
	TopUsages(ctx context.Context, n int) ([]UserUsage, error)
}

// exceeds reports whether adding delta to cur passes a limit.
func exceeds(cur, delta, limit Usage) bool {
	return delta.Bytes > 0 && limit.Bytes > 0 && cur.Bytes+delta.Bytes > limit.Bytes ||
		delta.Files > 0 && limit.Files > 0 && cur.Files+delta.Files > limit.Files
}

// Next returns cur plus delta (never below 0) and true, or cur and false
// when a positive part of delta passes its limit: the rule every backend
// applies inside its atomic step.
func (cur Usage) Next(delta, limit Usage) (Usage, bool) {
	if exceeds(cur, delta, limit) {
		return cur, false
	}
	return Usage{Bytes: max(cur.Bytes+delta.Bytes, 0), Files: max(cur.Files+delta.Files, 0)}, true
}
