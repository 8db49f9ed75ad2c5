package media

import (
	"fmt"
	"slices"
	"time"
)

// Transition names a change of state (design §2). Each is applied with
// Record.Apply and recorded as the Action of a history Event.
type Transition string

// The transitions. Create and Import only appear in history (NewReserved,
// NewPending, imports); Apply refuses them.
const (
	// Create: a record came into being (history only).
	Create Transition = "create"
	// Import: a record came into being from another homeserver's media
	// store, under its original media ID (history only; mediarepo import).
	Import Transition = "import"
	// Upload: reserved → pending; the async upload's content arrived.
	Upload Transition = "upload"
	// VerdictClean: pending → clean (worker).
	VerdictClean Transition = "verdict_clean"
	// VerdictInfected: pending → quarantined (worker).
	VerdictInfected Transition = "verdict_infected"
	// VerdictUnscannable: pending → blocked (worker).
	VerdictUnscannable Transition = "verdict_unscannable"
	// ScanFailed: pending → blocked after the job's last delivery (worker).
	ScanFailed Transition = "scan_failed"
	// PolicyBlock: pending → blocked by the type policy or hash blocklist.
	PolicyBlock Transition = "policy_block"
	// Release: quarantined or blocked → clean (officer; reason mandatory).
	Release Transition = "release"
	// Quarantine: clean or pending → quarantined (officer). Pending is
	// included so that quarantining an uploader or a hash also catches
	// media still being scanned; the late verdict then fails with ErrStale.
	Quarantine Transition = "quarantine"
	// Delete: pending, clean, quarantined or blocked → deleted (officer).
	// Officers may delete clean media too (illegal but harmless content);
	// the tombstone keeps the hashes for the audit.
	Delete Transition = "delete"
	// Expire: reserved → expired once ExpiresAt has passed (reconciler).
	Expire Transition = "expire"
	// Rescan: pending, clean, quarantined or blocked → pending; clears the
	// verdict. From pending it only bumps the revision (a fresh job ID).
	Rescan Transition = "rescan"
	// RescanInfected: clean → quarantined; the background rescan after a
	// signature update (worker/rescan.go) found the served content
	// infected. It carries the new infected verdict. From any other state
	// it is ErrStale, as for the worker's verdicts: an officer's decision
	// (or a release of media once found infected) stands.
	RescanInfected Transition = "rescan_infected"
)

// Transitions lists every transition Apply knows (Create excluded).
var Transitions = []Transition{Upload, VerdictClean, VerdictInfected, VerdictUnscannable, ScanFailed, PolicyBlock, Release, Quarantine, Delete, Expire, Rescan, RescanInfected}

// stored are the states that have content.
var stored = []State{StatePending, StateClean, StateQuarantined, StateBlocked}

// rules: the states a transition leaves from and the state it leads to.
var rules = map[Transition]struct {
	from []State
	to   State
}{
	Upload:             {[]State{StateReserved}, StatePending},
	VerdictClean:       {[]State{StatePending}, StateClean},
	VerdictInfected:    {[]State{StatePending}, StateQuarantined},
	VerdictUnscannable: {[]State{StatePending}, StateBlocked},
	ScanFailed:         {[]State{StatePending}, StateBlocked},
	PolicyBlock:        {[]State{StatePending}, StateBlocked},
	Release:            {[]State{StateQuarantined, StateBlocked}, StateClean},
	Quarantine:         {[]State{StatePending, StateClean}, StateQuarantined},
	Delete:             {stored, StateDeleted},
	Expire:             {[]State{StateReserved}, StateExpired},
	Rescan:             {stored, StatePending},
	RescanInfected:     {[]State{StateClean}, StateQuarantined},
}

// verdictResults: the result a scan transition must carry.
var verdictResults = map[Transition][]Result{
	VerdictClean:       {ResultClean},
	VerdictInfected:    {ResultInfected},
	VerdictUnscannable: {ResultUnscannable},
	ScanFailed:         {ResultFailed},
	PolicyBlock:        {ResultTypeForbidden, ResultHashBlocked},
	RescanInfected:     {ResultInfected},
}

// Allowed reports whether t may be applied to a record in state from (the
// state rule only; Apply also checks the Change's content).
func Allowed(from State, t Transition) bool {
	r, ok := rules[t]
	return ok && slices.Contains(r.from, from)
}

// Target returns the state t leads to, and false for an unknown transition.
func Target(t Transition) (State, bool) {
	r, ok := rules[t]
	return r.to, ok
}

// Change is one requested transition with what it records.
type Change struct {
	Transition Transition
	At         time.Time
	// Actor is who acts: a user ID for uploads and officers, a worker or
	// reconciler name otherwise. Always required.
	Actor string
	// Reason explains the change; required for Release.
	Reason string
	// Verdict is required for the scan transitions (VerdictClean,
	// VerdictInfected, VerdictUnscannable, ScanFailed, PolicyBlock) with
	// the matching Result; an infected verdict names its Signature.
	Verdict *Verdict
	// Content is required for Upload: a 64-character hex SHA256, a
	// BlobKey and a non-negative Size.
	Content *Content
}

// Apply returns the record after the change, with a history event
// appended; r itself is not modified. Refusals:
//   - a scan transition on a record that is not pending: ErrStale (the
//     worker drops its verdict; an officer's decision stands);
//   - Upload on a record with content (or a tombstone): ErrCannotOverwrite;
//     Upload on an expired reservation, or after ExpiresAt: ErrExpired;
//   - any other transition from a state it does not leave: ErrInvalidTransition;
//   - a missing actor, or Release without a reason: ErrMissingReason;
//   - a scan transition without its verdict, or Upload without valid
//     content: ErrMissingVerdict / ErrInvalidTransition.
func (r Record) Apply(c Change) (Record, error) {
	rule, known := rules[c.Transition]
	if !known {
		return r, fmt.Errorf("%w: unknown transition %q", ErrInvalidTransition, c.Transition)
	}
	if err := r.refusal(c, rule.from); err != nil {
		return r, err
	}
	if err := c.validate(); err != nil {
		return r, err
	}
	next := r
	next.State = rule.to
	ev := Event{At: c.At, Actor: c.Actor, Action: c.Transition, From: r.State, To: rule.to, Reason: c.Reason}
	switch c.Transition {
	case Upload:
		next.Content = *c.Content
		next.UploadedAt = c.At
		next.ExpiresAt = time.Time{}
	case Expire:
		next.ExpiresAt = time.Time{}
	case Rescan:
		next.Verdict = nil
	}
	if v, scan := verdictResults[c.Transition]; scan && len(v) > 0 {
		verdict := *c.Verdict
		next.Verdict = &verdict
		ev.Signature = verdict.Signature
		if ev.Reason == "" {
			ev.Reason = verdict.Reason
		}
	}
	next.History = append(slices.Clip(r.History), ev)
	return next, nil
}

// refusal returns the error for a transition that may not leave r.State.
func (r Record) refusal(c Change, from []State) error {
	if slices.Contains(from, r.State) {
		if c.Transition == Upload && !r.ExpiresAt.IsZero() && c.At.After(r.ExpiresAt) {
			return fmt.Errorf("%w: reservation %s expired at %s", ErrExpired, r.MXC(), r.ExpiresAt.Format(time.RFC3339))
		}
		if c.Transition == Expire && c.At.Before(r.ExpiresAt) {
			return fmt.Errorf("%w: reservation %s expires only at %s", ErrInvalidTransition, r.MXC(), r.ExpiresAt.Format(time.RFC3339))
		}
		return nil
	}
	switch {
	case verdictResults[c.Transition] != nil:
		return fmt.Errorf("%w: %s is %s, not pending", ErrStale, r.MXC(), r.State)
	case c.Transition == Upload && r.State == StateExpired:
		return fmt.Errorf("%w: %s", ErrExpired, r.MXC())
	case c.Transition == Upload:
		return fmt.Errorf("%w: %s is %s", ErrCannotOverwrite, r.MXC(), r.State)
	}
	return fmt.Errorf("%w: %s from %s", ErrInvalidTransition, c.Transition, r.State)
}

// validate checks what the change must carry.
func (c Change) validate() error {
	if c.Actor == "" {
		return fmt.Errorf("%w: %s without an actor", ErrMissingReason, c.Transition)
	}
	if c.Transition == Release && c.Reason == "" {
		return fmt.Errorf("%w: release without a reason", ErrMissingReason)
	}
	if want, scan := verdictResults[c.Transition]; scan {
		if c.Verdict == nil || !slices.Contains(want, c.Verdict.Result) {
			return fmt.Errorf("%w: %s needs a verdict of %v", ErrMissingVerdict, c.Transition, want)
		}
		if c.Verdict.Result == ResultInfected && c.Verdict.Signature == "" {
			return fmt.Errorf("%w: infected verdict without a signature", ErrMissingVerdict)
		}
	}
	if c.Transition == Upload {
		if c.Content == nil || !ValidSHA256(c.Content.SHA256) || c.Content.BlobKey == "" || c.Content.Size < 0 {
			return fmt.Errorf("%w: upload without valid content (sha256, blob key, size)", ErrInvalidTransition)
		}
	}
	return nil
}

// ValidSHA256 reports whether s is 64 lowercase hex characters.
func ValidSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f') {
			return false
		}
	}
	return true
}
