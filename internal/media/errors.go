package media

import "errors"

// Domain errors. Every layer wraps them with fmt.Errorf("...: %w", err) and
// checks them with errors.Is; only internal/httpapi turns them into status
// codes and errcodes (the suggested mapping is noted on each).
var (
	// ErrNotFound means no media record exists under that origin and ID
	// (or it was deleted or its reservation expired). HTTP 404 M_NOT_FOUND.
	ErrNotFound = errors.New("media: not found")
	// ErrInvalidID means a media ID is empty, too long or has characters
	// outside [A-Za-z0-9_-]. HTTP 400 M_INVALID_PARAM (404 on downloads).
	ErrInvalidID = errors.New("media: invalid media ID")
	// ErrInvalidServerName means a server name does not follow the Matrix
	// grammar (hostname, IPv4 or [IPv6], optional :port). HTTP 400/404.
	ErrInvalidServerName = errors.New("media: invalid server name")
	// ErrInvalidUserID means a Matrix user ID is malformed. HTTP 400.
	ErrInvalidUserID = errors.New("media: invalid user ID")
	// ErrInvalidTransition means the requested state change is not allowed
	// from the record's current state (see Allowed). HTTP 409.
	ErrInvalidTransition = errors.New("media: transition not allowed from this state")
	// ErrStale means a scan result arrived for a record that is no longer
	// pending: an officer (or another worker) decided meanwhile. Errors
	// wrapping ErrStale also wrap ErrInvalidTransition. A worker acks the
	// job and drops its verdict: it never overwrites an officer's decision.
	ErrStale = errors.New("media: record no longer awaits this verdict")
	// ErrMissingReason means an officer action that needs a reason (release)
	// or an actor was given none. HTTP 400.
	ErrMissingReason = errors.New("media: a reason and an actor are required")
	// ErrMissingVerdict means a scan transition was applied without the
	// verdict it records (a programming error). HTTP 500.
	ErrMissingVerdict = errors.New("media: verdict missing or inconsistent with transition")
	// ErrConflict means a compare-and-set lost against a concurrent writer;
	// the caller re-reads and retries. HTTP 409 (or 503 after retries).
	ErrConflict = errors.New("media: concurrent modification")
	// ErrExists means a record (or blob record) with that key already
	// exists; creation never overwrites.
	ErrExists = errors.New("media: already exists")
	// ErrCannotOverwrite means an async upload targets media that already
	// has content. HTTP 409 M_CANNOT_OVERWRITE_MEDIA.
	ErrCannotOverwrite = errors.New("media: cannot overwrite uploaded media")
	// ErrExpired means a reservation (async upload) expired before its
	// content arrived. HTTP 404 M_NOT_FOUND.
	ErrExpired = errors.New("media: reservation expired")
	// ErrForbidden means the caller may not act on this media (an async
	// upload by another user than the creator). HTTP 403 M_FORBIDDEN.
	ErrForbidden = errors.New("media: forbidden")
	// ErrTooLarge means the content exceeds the configured upload limit.
	// HTTP 413 M_TOO_LARGE (502 M_TOO_LARGE for remote media).
	ErrTooLarge = errors.New("media: content too large")
	// ErrTypeForbidden means the type policy refuses the content's type.
	// HTTP 403 M_FORBIDDEN with reason MCS_MIME_TYPE_FORBIDDEN.
	ErrTypeForbidden = errors.New("media: content type forbidden")
	// ErrNotClean means the media is quarantined or blocked. HTTP 403
	// M_FORBIDDEN with reason MCS_MEDIA_NOT_CLEAN.
	ErrNotClean = errors.New("media: not clean")
	// ErrNotYetUploaded means the media has no verdict (or no content) yet.
	// HTTP 504 M_NOT_YET_UPLOADED with Retry-After.
	ErrNotYetUploaded = errors.New("media: not yet uploaded or scanned")
	// ErrLimitExceeded means a rate or quota limit was hit. HTTP 429
	// M_LIMIT_EXCEEDED with Retry-After.
	ErrLimitExceeded = errors.New("media: limit exceeded")
	// ErrHashBlocked means the content's SHA-256 is known infected and
	// blocked at upload. HTTP 403 M_FORBIDDEN with MCS_MEDIA_NOT_CLEAN.
	ErrHashBlocked = errors.New("media: content hash is blocked")
	// ErrRefCount means a blob reference was dropped that was never taken
	// (a programming or consistency error). HTTP 500.
	ErrRefCount = errors.New("media: blob reference count would go negative")
)
