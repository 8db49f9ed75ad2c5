// Package audit keeps the security officers' audit log (design §5, §6): an
// append-only JetStream stream in which every officer action, and every
// officer login and logout, is one entry saying who did what to which
// target, when, why, and what state it left.
//
// # Why entries stay
//
// The stream is created with DenyDelete and DenyPurge, so neither a
// message delete nor a purge is accepted through the JetStream API, and the
// server refuses to turn either flag off again on an existing stream. It
// has no age, count or size limit, so nothing is discarded either. What
// the API cannot prevent is someone with the account's rights deleting the
// whole stream: give the mediarepo NATS user permissions that exclude
// $JS.API.STREAM.DELETE for the audit stream (README, operations), and
// back the stream up like the catalog.
package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Defaults for Options' zero values.
const (
	DefaultStream  = "MEDIAREPO_AUDIT"
	DefaultSubject = "mediarepo.audit"
	// DefaultMaxScan bounds how many entries one List reads.
	DefaultMaxScan = 5000
)

// ErrInvalidEntry means an entry lacks its actor, action or target.
var ErrInvalidEntry = errors.New("audit: entry needs an actor, an action and a target")

// Outcomes of an action.
const (
	// OutcomeChanged: the action changed the target.
	OutcomeChanged = "changed"
	// OutcomeUnchanged: the target already was as asked (an idempotent
	// repeat); recorded all the same.
	OutcomeUnchanged = "unchanged"
	// OutcomeFailed: the action was refused or failed; Detail says why.
	OutcomeFailed = "failed"
)

// Entry is one audited action.
type Entry struct {
	// Seq is the entry's position in the stream (set by Append and List).
	Seq uint64    `json:"seq,omitempty"`
	At  time.Time `json:"at"`
	// Actor is the Matrix user ID of the officer.
	Actor string `json:"actor"`
	// Action names what was done: "release", "delete", "sample", "login", ...
	Action string `json:"action"`
	// Target is what it was done to: an mxc:// URI, a user ID, a
	// "sha256:<hex>", or the actor itself for logins.
	Target string `json:"target"`
	Reason string `json:"reason,omitempty"`
	// From and To are the target's state before and after.
	From    string `json:"from,omitempty"`
	To      string `json:"to,omitempty"`
	Outcome string `json:"outcome,omitempty"`
	// Detail holds anything else worth keeping (hash block lifted, bytes
	// sent, the error of a failed action).
	Detail    string `json:"detail,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// Options configure the audit stream.
type Options struct {
	// Stream is the stream name (DefaultStream).
	Stream string
	// Subject is the subject prefix; entries go to "<Subject>.<action>".
	Subject string
	// Replicas of the stream (1; 3 in a cluster).
	Replicas int
	// MaxScan bounds the entries one List reads (DefaultMaxScan).
	MaxScan int
}

// Log appends to and reads the audit stream. It is safe for concurrent use.
type Log struct {
	js     jetstream.JetStream
	stream jetstream.Stream
	opts   Options
	now    func() time.Time
}

// Open creates the audit stream (or checks and updates an existing one; a
// stream that lost DenyDelete or DenyPurge cannot exist, the server keeps
// them) and returns the log.
func Open(ctx context.Context, js jetstream.JetStream, opts Options) (*Log, error) {
	if opts.Stream == "" {
		opts.Stream = DefaultStream
	}
	if opts.Subject == "" {
		opts.Subject = DefaultSubject
	}
	if opts.Replicas == 0 {
		opts.Replicas = 1
	}
	if opts.MaxScan <= 0 {
		opts.MaxScan = DefaultMaxScan
	}
	st, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        opts.Stream,
		Description: "mediarepo security officers' audit log (append-only)",
		Subjects:    []string{opts.Subject + ".>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    opts.Replicas,
		Discard:     jetstream.DiscardNew,
		DenyDelete:  true,
		DenyPurge:   true,
	})
	if err != nil {
		return nil, fmt.Errorf("audit: stream %s: %w", opts.Stream, err)
	}
	cfg := st.CachedInfo().Config
	if !cfg.DenyDelete || !cfg.DenyPurge {
		return nil, fmt.Errorf("audit: stream %s allows deletes or purges", opts.Stream)
	}
	return &Log{js: js, stream: st, opts: opts, now: time.Now}, nil
}

// Append stores e (At defaults to now) and returns it with its sequence.
// It returns only after the server acknowledged the write.
func (l *Log) Append(ctx context.Context, e Entry) (Entry, error) {
	if e.Actor == "" || e.Action == "" || e.Target == "" {
		return e, ErrInvalidEntry
	}
	if e.At.IsZero() {
		e.At = l.now()
	}
	e.At = e.At.UTC()
	e.Seq = 0
	data, err := json.Marshal(e)
	if err != nil {
		return e, fmt.Errorf("audit: encode: %w", err)
	}
	ack, err := l.js.Publish(ctx, l.opts.Subject+"."+subjectToken(e.Action), data,
		jetstream.WithExpectStream(l.opts.Stream))
	if err != nil {
		return e, fmt.Errorf("audit: append %s %s: %w", e.Action, e.Target, err)
	}
	e.Seq = ack.Sequence
	return e, nil
}

// subjectToken keeps an action usable as one subject token.
func subjectToken(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	return string(b)
}
