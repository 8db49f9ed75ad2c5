package scan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Policy decides a verdict from several engines' verdicts.
type Policy string

// The policies. Both decide the same way; the second names the rule for
// officers ("any infected quarantines").
const (
	// PolicyAll: clean only when every engine says clean; infected when
	// any says infected (the findings name which); otherwise no verdict
	// (retry) when any engine gave none; otherwise unscannable when any
	// says so.
	PolicyAll Policy = "all"
	// PolicyAnyInfected is PolicyAll under the name officers read.
	PolicyAnyInfected Policy = "any-infected-quarantines"
)

// Valid reports whether p is a known policy.
func (p Policy) Valid() bool { return p == PolicyAll || p == PolicyAnyInfected }

// Engine is a named scanner in a list of engines.
type Engine struct {
	// Name is the operator's name for the engine (config scan.engines[].name).
	Name    string
	Scanner Scanner
}

// EngineVerdict is one engine's part in a verdict of several engines.
type EngineVerdict struct {
	// Name is the engine's configured name.
	Name string `json:"name"`
	// Result is the engine's result; empty when it gave none (Error).
	Result    Result `json:"result,omitempty"`
	Signature string `json:"signature,omitempty"`
	Reason    string `json:"reason,omitempty"`
	// Engine, EngineVersion, SignatureVersion, SignatureDate: as in Verdict.
	Engine           string    `json:"engine,omitempty"`
	EngineVersion    string    `json:"engine_version,omitempty"`
	SignatureVersion string    `json:"signature_version,omitempty"`
	SignatureDate    time.Time `json:"signature_date,omitzero"`
	VersionChanged   bool      `json:"version_changed,omitempty"`
	// Error says why the engine gave no verdict.
	Error string `json:"error,omitempty"`
}

// Engines scans with several engines concurrently and combines their
// verdicts by its policy. It is a Scanner, so everything above it (the
// checker, the worker's reuse rule) treats the list as one engine whose
// version is every engine's version.
//
// The content is read once and fanned out: each chunk read from r goes
// to every engine's stream. One read keeps the worker's single
// sequential pass over the sealed blob (one backend request, one
// decryption, the SHA-256 check of what was scanned) whatever the number
// of engines; the cost is that the engines move in step, bounded by a few
// chunks of slack, so the slowest one paces the stream. An engine that
// answers before the end of the stream is dropped from the fan-out, never
// waited for.
type Engines struct {
	engines []Engine
	policy  Policy
	chunk   int
	depth   int
}

var _ Scanner = (*Engines)(nil)

// NewEngines returns the list. Names must be unique and non-empty; the
// policy defaults to PolicyAll.
func NewEngines(policy Policy, engines ...Engine) (*Engines, error) {
	if len(engines) == 0 {
		return nil, errors.New("scan: no engines")
	}
	if policy == "" {
		policy = PolicyAll
	}
	if !policy.Valid() {
		return nil, fmt.Errorf("scan: unknown policy %q", policy)
	}
	seen := map[string]bool{}
	for _, e := range engines {
		if e.Name == "" || seen[e.Name] || e.Scanner == nil {
			return nil, fmt.Errorf("scan: engine names must be unique and non-empty (%q)", e.Name)
		}
		seen[e.Name] = true
	}
	return &Engines{engines: engines, policy: policy, chunk: 64 << 10, depth: 4}, nil
}

// List returns the engines, in configured order.
func (m *Engines) List() []Engine { return m.engines }

// Policy returns the policy.
func (m *Engines) Policy() Policy { return m.policy }

// Scan sends r to every engine concurrently (one read, fanned out) and
// combines the verdicts by the policy. The verdict's Engines holds each
// engine's part; its engine fields are the combined version (Version);
// VersionChanged is set when any engine's version changed during its scan.
// Errors: as Scanner.Scan; ErrUnavailable when the policy needs a verdict
// an engine did not give.
func (m *Engines) Scan(ctx context.Context, r io.Reader) (Verdict, error) {
	if len(m.engines) == 1 { // nothing to fan out
		v, err := m.engines[0].Scanner.Scan(ctx, r)
		if err != nil {
			return Verdict{}, err
		}
		return m.combine([]Verdict{v}, []error{nil})
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n := len(m.engines)
	streams := make([]*fanStream, n)
	for i := range streams {
		streams[i] = &fanStream{ch: make(chan fanChunk, m.depth), done: make(chan struct{})}
	}
	verdicts := make([]Verdict, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, e := range m.engines {
		wg.Go(func() {
			verdicts[i], errs[i] = e.Scanner.Scan(ctx, streams[i])
			close(streams[i].done) // the fan-out stops feeding it
		})
	}
	readErr := fanOut(ctx, r, streams, m.chunk)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return Verdict{}, fmt.Errorf("%w: engines: %w", ErrUnavailable, err)
	}
	if readErr != nil {
		return Verdict{}, readErr
	}
	return m.combine(verdicts, errs)
}

// combine applies the policy to the engines' answers.
func (m *Engines) combine(verdicts []Verdict, errs []error) (Verdict, error) {
	out := Verdict{Engines: make([]EngineVerdict, len(m.engines))}
	var infected, unscannable, failed []string
	var firstErr error
	versions := make([]EngineVersion, len(m.engines))
	for i, e := range m.engines {
		v, err := verdicts[i], errs[i]
		ev := EngineVerdict{Name: e.Name}
		if err != nil {
			var rerr *readerFailure
			if errors.As(err, &rerr) {
				return Verdict{}, rerr.err
			}
			ev.Error = err.Error()
			failed = append(failed, e.Name)
			if firstErr == nil {
				firstErr = err
			}
		} else {
			ev.Result, ev.Signature, ev.Reason = v.Result, v.Signature, v.Reason
			ev.Engine, ev.EngineVersion, ev.SignatureVersion, ev.SignatureDate = v.Engine, v.EngineVersion, v.SignatureVersion, v.SignatureDate
			ev.VersionChanged = v.VersionChanged
			out.VersionChanged = out.VersionChanged || v.VersionChanged
			versions[i] = EngineVersion{Engine: v.Engine, Version: v.EngineVersion, SignatureVersion: v.SignatureVersion, SignatureDate: v.SignatureDate}
			if v.ScannedAt.After(out.ScannedAt) {
				out.ScannedAt = v.ScannedAt
			}
			switch v.Result {
			case ResultClean:
			case ResultInfected:
				infected = append(infected, e.Name)
			default: // unscannable, or unknown: fail closed
				unscannable = append(unscannable, e.Name)
			}
		}
		out.Engines[i] = ev
	}
	var sigs, reasons []string
	for _, ev := range out.Engines {
		if ev.Result == ResultInfected {
			sigs = append(sigs, ev.Signature)
		}
		if ev.Result == ResultUnscannable {
			reasons = append(reasons, ev.Name+": "+strings.TrimSpace(ev.Reason+" "+ev.Signature))
		}
	}
	switch {
	case len(infected) > 0:
		out.Result = ResultInfected
		out.Signature = strings.Join(sigs, ", ")
		out.Reason = "infected according to " + strings.Join(infected, ", ")
	case len(failed) > 0:
		return Verdict{}, fmt.Errorf("%w: engine %s gave no verdict: %w", ErrUnavailable, strings.Join(failed, ", "), firstErr)
	case len(unscannable) > 0:
		out.Result = ResultUnscannable
		out.Reason = strings.Join(reasons, "; ")
		for _, ev := range out.Engines {
			if ev.Result == ResultUnscannable && out.Signature == "" {
				out.Signature = ev.Signature
			}
		}
	default:
		out.Result = ResultClean
	}
	if len(failed) == 0 {
		out = out.withCombined(combineVersions(m.engines, versions))
	} else {
		out.Engine = m.names()
		out.VersionChanged = true // a version is missing: never reused
	}
	return out, nil
}

// Ping returns nil when every engine answers.
func (m *Engines) Ping(ctx context.Context) error {
	return errors.Join(m.each(ctx, func(ctx context.Context, _ int, s Scanner) error { return s.Ping(ctx) })...)
}

// Version returns the combined version of all engines: engine
// "name+name", and each part's version and signature version joined, so
// that ReuseBasis changes when any engine's does (and is empty when any
// engine reports no signature version). With one engine it is that
// engine's version.
func (m *Engines) Version(ctx context.Context) (EngineVersion, error) {
	versions := make([]EngineVersion, len(m.engines))
	errs := m.each(ctx, func(ctx context.Context, i int, s Scanner) error {
		v, err := s.Version(ctx)
		versions[i] = v
		return err
	})
	if err := errors.Join(errs...); err != nil {
		return EngineVersion{}, err
	}
	return combineVersions(m.engines, versions), nil
}

// each runs fn on every engine concurrently and returns the errors,
// prefixed with the engine's name.
func (m *Engines) each(ctx context.Context, fn func(context.Context, int, Scanner) error) []error {
	errs := make([]error, len(m.engines))
	var wg sync.WaitGroup
	for i, e := range m.engines {
		wg.Go(func() {
			if err := fn(ctx, i, e.Scanner); err != nil {
				errs[i] = fmt.Errorf("engine %s: %w", e.Name, err)
			}
		})
	}
	wg.Wait()
	return errs
}

func (m *Engines) names() string {
	names := make([]string, len(m.engines))
	for i, e := range m.engines {
		names[i] = e.Name
	}
	return strings.Join(names, "+")
}

// combineVersions joins the engines' versions in configured order. The
// signature version is empty when any engine's is (it cannot be compared);
// the date is the oldest.
func combineVersions(engines []Engine, versions []EngineVersion) EngineVersion {
	if len(versions) == 1 {
		return versions[0]
	}
	var names, vers, sigs []string
	out := EngineVersion{}
	undated := false
	for i, v := range versions {
		names = append(names, engines[i].Name)
		vers = append(vers, v.Engine+" "+v.Version)
		if v.SignatureVersion == "" {
			undated = true
		}
		sigs = append(sigs, v.SignatureVersion)
		if out.SignatureDate.IsZero() || (!v.SignatureDate.IsZero() && v.SignatureDate.Before(out.SignatureDate)) {
			out.SignatureDate = v.SignatureDate
		}
	}
	out.Engine = strings.Join(names, "+")
	out.Version = strings.Join(vers, " + ")
	if !undated {
		out.SignatureVersion = strings.Join(sigs, " + ")
	}
	return out
}

// withCombined sets v's engine fields from the combined version.
func (v Verdict) withCombined(ev EngineVersion) Verdict {
	changed := v.VersionChanged
	v = v.WithEngine(ev)
	v.VersionChanged = changed
	return v
}
