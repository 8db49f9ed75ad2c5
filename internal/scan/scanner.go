// Package scan holds what the scan pipeline shares: the Scanner contract
// that virus engines implement (internal/scan/clamd), the Verdict they
// return, the sentinel errors, and the archive inspection that catches
// what engines let through (zip bombs, content hidden beyond the engine's
// size limits). It knows no catalog and no HTTP.
//
// Fail closed: only an engine's explicit "clean" answer yields ResultClean.
// Every error, timeout, cancellation or reply that is not understood is an
// error, never a clean verdict.
package scan

import (
	"context"
	"errors"
	"io"
)

// Sentinel errors. Implementations wrap them; callers check with errors.Is.
var (
	// ErrUnavailable means the engine gave no verdict this time: it could
	// not be reached, it timed out, it answered ERROR or with a reply that
	// is not understood. The condition is transient: retry with backoff
	// (after a bounded number of tries the media ends blocked), and never
	// treat the content as clean.
	ErrUnavailable = errors.New("scan: engine unavailable")
	// ErrInfected is returned by Verdict.Err for an infected verdict.
	ErrInfected = errors.New("scan: content infected")
	// ErrUnscannable is returned by Verdict.Err for content the engine or
	// the archive inspector could not judge (limits exceeded, encrypted
	// archive, archive bomb), and by ArchiveInspector.Inspect. Final: the
	// media is blocked, a retry would give the same answer.
	ErrUnscannable = errors.New("scan: content unscannable")
)

// Scanner is a virus engine. Implementations are safe for concurrent use.
type Scanner interface {
	// Scan reads r once, to its end, and returns the engine's verdict.
	// A nil error always comes with a verdict whose Result is set. Errors
	// wrap ErrUnavailable when the engine gave no verdict, or the reader's
	// own error when reading r failed; cancelling ctx aborts the scan
	// (between reads of r and on the engine connection) with an error
	// wrapping ctx.Err(). The caller owns and closes r; a reader that
	// blocks forever is the caller's to bound (ctx does not interrupt r).
	Scan(ctx context.Context, r io.Reader) (Verdict, error)
	// Ping returns nil when the engine answers, an error wrapping
	// ErrUnavailable otherwise.
	Ping(ctx context.Context) error
	// Version reports the engine and signature database versions, or an
	// error wrapping ErrUnavailable.
	Version(ctx context.Context) (EngineVersion, error)
}
