package scan

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Result is the outcome of a scan.
type Result string

// The scan results. Only ResultClean makes media servable.
const (
	// ResultClean: the engine explicitly found nothing.
	ResultClean Result = "clean"
	// ResultInfected: the engine reported a signature.
	ResultInfected Result = "infected"
	// ResultUnscannable: the content could not be judged (size limits,
	// encryption, archive bomb); the media is blocked.
	ResultUnscannable Result = "unscannable"
)

// Valid reports whether r is one of the defined results.
func (r Result) Valid() bool {
	switch r {
	case ResultClean, ResultInfected, ResultUnscannable:
		return true
	}
	return false
}

// EngineVersion identifies the engine and signature database behind a
// verdict, as reported by the engine (clamd: "ClamAV 1.4.6/27000/<date>").
// SignatureVersion and SignatureDate are empty/zero when the engine runs
// without a versioned database (the test database, for example).
type EngineVersion struct {
	// Engine is the engine's name, e.g. "ClamAV".
	Engine string `json:"engine"`
	// Version is the engine's version, e.g. "1.4.6".
	Version string `json:"version"`
	// SignatureVersion is the database version, e.g. "27000".
	SignatureVersion string `json:"signature_version,omitempty"`
	// SignatureDate is when the database was built.
	SignatureDate time.Time `json:"signature_date,omitzero"`
}

// String returns the engine's own notation, "ClamAV 1.4.6/27000".
func (v EngineVersion) String() string {
	s := v.Engine + " " + v.Version
	if v.SignatureVersion != "" {
		s += "/" + v.SignatureVersion
	}
	return s
}

// Verdict is the outcome of one scan, with what is needed to judge it
// later: which engine and which signatures said so, and when.
type Verdict struct {
	// Result is clean, infected or unscannable; never empty in a verdict
	// returned without error.
	Result Result `json:"result"`
	// Signature is the name the engine reported (infected), or the
	// heuristic behind an unscannable result (Heuristics.Encrypted.Zip);
	// empty for clean.
	Signature string `json:"signature,omitempty"`
	// Reason explains an unscannable result in words for officers and logs.
	Reason string `json:"reason,omitempty"`
	// Engine, EngineVersion, SignatureVersion and SignatureDate come from
	// the engine's version report (see EngineVersion).
	Engine           string    `json:"engine,omitempty"`
	EngineVersion    string    `json:"engine_version,omitempty"`
	SignatureVersion string    `json:"signature_version,omitempty"`
	SignatureDate    time.Time `json:"signature_date,omitzero"`
	// ScannedAt is when the engine answered.
	ScannedAt time.Time `json:"scanned_at"`
	// VersionChanged is set by Stamp when the engine reported another
	// version after the scan than before it (a signature reload during
	// the scan): which signatures judged the content is unknown, so the
	// verdict stands for this record only and is never reused.
	VersionChanged bool `json:"version_changed,omitempty"`
	// Engines holds each engine's part when several engines judged the
	// content (Engines); nil for a single engine's own verdict.
	Engines []EngineVerdict `json:"engines,omitempty"`
}

// Same reports whether v and o name the same engine, engine version and
// signature version (the database date is not compared: it is derived).
func (v EngineVersion) Same(o EngineVersion) bool {
	return v.Engine == o.Engine && v.Version == o.Version && v.SignatureVersion == o.SignatureVersion
}

// Stamp labels v with the engine versions read just before the content
// was sent to the engine and just after its answer. The verdict carries
// the version after; when the two differ, VersionChanged is set. An
// engine implementation calls it in Scan; it is the one place where
// "which signatures produced this verdict" is decided.
func Stamp(v Verdict, before, after EngineVersion) Verdict {
	v = v.WithEngine(after)
	v.VersionChanged = !before.Same(after)
	return v
}

// ReuseBasis names everything besides the bytes that a verdict depends
// on: each engine with its version and signature version, and the
// inspection (its code revision and limits, Checker.Inspection). A
// hash-level verdict may be reused for identical bytes only when the
// basis it was made on equals the basis a scan would use now, and never
// when it is empty. The basis is empty when an engine reports no
// signature version (an undated database cannot be compared) or no
// engine is given. With several engines, their order does not matter.
func ReuseBasis(inspection string, engines ...EngineVersion) string {
	if len(engines) == 0 {
		return ""
	}
	parts := make([]string, 0, len(engines))
	for _, ev := range engines {
		if ev.Engine == "" || ev.Version == "" || ev.SignatureVersion == "" {
			return ""
		}
		parts = append(parts, ev.String())
	}
	slices.Sort(parts)
	return strings.Join(parts, " + ") + "; " + inspection
}

// Basis returns the basis (ReuseBasis) under which v may be reused, or
// "" when it may not: its version changed during the scan.
func (v Verdict) Basis(inspection string) string {
	if v.VersionChanged {
		return ""
	}
	return ReuseBasis(inspection, EngineVersion{Engine: v.Engine, Version: v.EngineVersion, SignatureVersion: v.SignatureVersion})
}

// WithEngine returns v with the engine fields filled from ev.
func (v Verdict) WithEngine(ev EngineVersion) Verdict {
	v.Engine = ev.Engine
	v.EngineVersion = ev.Version
	v.SignatureVersion = ev.SignatureVersion
	v.SignatureDate = ev.SignatureDate
	return v
}

// Clean reports whether the verdict allows serving the content: true only
// for ResultClean.
func (v Verdict) Clean() bool { return v.Result == ResultClean }

// Err returns nil for a clean verdict, an error wrapping ErrInfected or
// ErrUnscannable (naming the signature or reason) otherwise. A verdict with
// an unknown Result is treated as unscannable: fail closed.
func (v Verdict) Err() error {
	switch v.Result {
	case ResultClean:
		return nil
	case ResultInfected:
		return fmt.Errorf("%w: %s", ErrInfected, v.Signature)
	case ResultUnscannable:
		return fmt.Errorf("%w: %s", ErrUnscannable, v.describe())
	}
	return fmt.Errorf("%w: unknown result %q", ErrUnscannable, v.Result)
}

func (v Verdict) describe() string {
	switch {
	case v.Reason != "" && v.Signature != "":
		return v.Reason + " (" + v.Signature + ")"
	case v.Reason != "":
		return v.Reason
	}
	return v.Signature
}
