// Package review holds the security officers' actions over the catalog
// (design §6): listing quarantined and blocked media, the details of one
// item, release, delete, rescan, quarantine by media ID, uploader or
// SHA-256, fetching a sample for forensics, media and usage per uploader,
// and the erasure of all media of one uploader.
//
// # Rules every action keeps
//
//   - State changes go through the pure transitions of package media and
//     are written with a compare-and-set (catalog.Apply), so an officer and
//     a scan worker never overwrite each other: a verdict that arrives after
//     an officer decided is dropped by the worker (media.ErrStale).
//   - Every action is idempotent: asking again for what is already so
//     changes nothing and answers Changed=false; follow-up steps (moving a
//     blob back out of quarantine, purging it) are redone by a repeat, so a
//     repeat also finishes what a crash interrupted.
//   - Every action, including repeats and refusals, is appended to the
//     audit log (who, when, what, target, reason, previous and new state)
//     before the call returns. When the audit write fails the call fails
//     with ErrAudit even though the change was made; repeating it records
//     the entry.
//   - A reason is mandatory for every action (ErrReasonRequired).
//
// # Blobs
//
// Downloads read only under the media prefix. Releasing (or rescanning)
// a record whose blob the worker moved into quarantine moves the blob back
// and points the blob record and every record using it at the new key.
// Deleting drops the record's reference on the per-hash blob record and
// purges the stored blob with the last reference; the record stays as a
// tombstone with its hashes. An officer's delete blocks the SHA-256 (design
// §4); the erasure of an uploader's media (a data-protection request) does
// not, because the content is not known to be harmful. Quarantining by
// media ID or uploader is a state change only (the blob stays where it
// is, unservable because of the state); quarantining by SHA-256 also
// blocks the hash at upload.
package review

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediarepo/mediarepo/internal/audit"
	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/storage"
)

// Errors of the review.
var (
	// ErrReasonRequired means an action was asked for without a reason
	// (or without an actor).
	ErrReasonRequired = errors.New("review: a reason is required")
	// ErrNotAllowed means the action does not apply to the record's
	// current state (release of clean media is fine, release of a
	// tombstone is not).
	ErrNotAllowed = errors.New("review: action not allowed in this state")
	// ErrAudit means the action's audit entry could not be written. The
	// change itself may have been made; repeat the action.
	ErrAudit = errors.New("review: audit log unavailable")
	// ErrNoScanQueue means a rescan was asked for without a scan queue
	// (scan.dev_mark_clean).
	ErrNoScanQueue = errors.New("review: no scan queue")
)

// Catalog is what the review needs of the catalog (catalog.Catalog has it).
type Catalog interface {
	catalog.Records
	catalog.Lookups
	catalog.Usages
	GetBlob(ctx context.Context, sha256 string) (media.Blob, uint64, error)
	CreateBlob(ctx context.Context, b media.Blob) (uint64, error)
	ModifyBlob(ctx context.Context, sha256 string, fn func(*media.Blob) error) (media.Blob, uint64, error)
	DeleteBlob(ctx context.Context, sha256 string, rev uint64) error
	// Purge marks (catalog.Purge), so that a failed purge is retried.
	catalog.Intents
}

// Blobs is the sealed blob store (sealed.Store has it). Get returns
// plaintext; Move moves the sealed bytes without decrypting them.
type Blobs interface {
	Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
	Stat(ctx context.Context, key string) (storage.Info, error)
	Delete(ctx context.Context, key string) error
	Move(ctx context.Context, from, to string) error
	List(ctx context.Context, prefix string, fn func(storage.Info) error) error
}

// Jobs queues rescans (queue.Queue has it); the revision keys the job.
type Jobs interface {
	Enqueue(ctx context.Context, rec media.Record, rev uint64) error
}

// Auditor appends audit entries (audit.Log has it).
type Auditor interface {
	Append(ctx context.Context, e audit.Entry) (audit.Entry, error)
}

// Request says who asks for an action and why.
type Request struct {
	// Actor is the officer's Matrix user ID.
	Actor string
	// Reason is mandatory; it goes into the record's history and the audit.
	Reason string
	// RequestID ties the audit entry to the HTTP request's logs.
	RequestID string
}

func (q Request) validate() error {
	if strings.TrimSpace(q.Actor) == "" || strings.TrimSpace(q.Reason) == "" {
		return ErrReasonRequired
	}
	return nil
}

// Options configure the review.
type Options struct {
	// MediaPrefix and QuarantinePrefix are the blob key prefixes
	// (service.MediaPrefix, service.QuarantinePrefix).
	MediaPrefix, QuarantinePrefix string
	// OnDeleted, when set, is told of every record a delete or erasure
	// turned into a tombstone (for the uploader's storage usage).
	OnDeleted func(ctx context.Context, rec media.Record)
}

// Reviewer carries out officer actions. It is safe for concurrent use.
type Reviewer struct {
	cat     Catalog
	blobs   Blobs
	jobs    Jobs
	audit   Auditor
	opts    Options
	log     *slog.Logger
	actions *prometheus.CounterVec
	now     func() time.Time
}

// New returns a Reviewer. jobs may be nil (no rescans: ErrNoScanQueue);
// reg may be nil.
func New(cat Catalog, blobs Blobs, jobs Jobs, aud Auditor, opts Options, log *slog.Logger, reg prometheus.Registerer) (*Reviewer, error) {
	if cat == nil || blobs == nil || aud == nil || log == nil {
		return nil, fmt.Errorf("review: catalog, blobs, auditor and logger are required")
	}
	if opts.MediaPrefix == "" || opts.QuarantinePrefix == "" || opts.MediaPrefix == opts.QuarantinePrefix {
		return nil, fmt.Errorf("review: distinct media and quarantine prefixes are required")
	}
	actions := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mediarepo_review_actions_total",
		Help: "Security officers' actions by action and outcome (changed, unchanged, failed).",
	}, []string{"action", "outcome"})
	if reg != nil {
		if err := reg.Register(actions); err != nil {
			return nil, fmt.Errorf("review: register metrics: %w", err)
		}
	}
	return &Reviewer{cat: cat, blobs: blobs, jobs: jobs, audit: aud, opts: opts, log: log, actions: actions, now: time.Now}, nil
}

// Result is the outcome of an action on one record.
type Result struct {
	Record   media.Record `json:"record"`
	Revision uint64       `json:"revision"`
	// Changed is false when the record already was as asked.
	Changed bool `json:"changed"`
	// Detail says what else happened (hash block lifted, blob purged).
	Detail string `json:"detail,omitempty"`
	// AuditSeq is the sequence of the action's audit entry.
	AuditSeq uint64 `json:"audit_seq"`
}

// Audit actions (audit.Entry.Action) of the review.
const (
	ActionRelease          = "release"
	ActionDelete           = "delete"
	ActionRescan           = "rescan"
	ActionQuarantine       = "quarantine"
	ActionQuarantineUser   = "quarantine_uploader"
	ActionQuarantineHash   = "quarantine_hash"
	ActionBlockHash        = "block_hash"
	ActionSample           = "sample"
	ActionEraseUploader    = "erase_uploader"
	ActionEraseUploaderRec = "erase"
)

// record writes the audit entry of one action and counts it. A failed
// action (err != nil) is recorded with its error and err is returned; a
// failed audit write turns into ErrAudit.
func (r *Reviewer) record(ctx context.Context, q Request, action, target, from, to, outcome, detail string, err error) (uint64, error) {
	if err != nil {
		outcome = audit.OutcomeFailed
		detail = strings.TrimPrefix(detail+"; ", "; ") + err.Error()
	}
	r.actions.WithLabelValues(action, outcome).Inc()
	e, aerr := r.audit.Append(context.WithoutCancel(ctx), audit.Entry{At: r.now(), Actor: q.Actor, Action: action, Target: target,
		Reason: q.Reason, From: from, To: to, Outcome: outcome, Detail: detail, RequestID: q.RequestID})
	if aerr != nil {
		r.log.ErrorContext(ctx, "AUDIT WRITE FAILED for an officer action", "action", action, "target", target,
			"actor", q.Actor, "outcome", outcome, "request_id", q.RequestID, "err", aerr)
		if err != nil {
			return 0, err
		}
		return 0, fmt.Errorf("%w: %s of %s: %w", ErrAudit, action, target, aerr)
	}
	return e.Seq, err
}

// outcomeOf names an action's outcome for the audit.
func outcomeOf(changed bool) string {
	if changed {
		return audit.OutcomeChanged
	}
	return audit.OutcomeUnchanged
}

// transition applies one officer transition with a compare-and-set. When
// the state machine refuses it and the record already is in the state
// the transition leads to, the result is unchanged (idempotent repeat);
// any other refusal is ErrNotAllowed.
func (r *Reviewer) transition(ctx context.Context, q Request, origin, id string, t media.Transition) (Result, media.State, error) {
	before, _, err := r.cat.Get(ctx, origin, id)
	if err != nil {
		return Result{}, "", err
	}
	rec, rev, err := catalog.Apply(ctx, r.cat, origin, id, media.Change{Transition: t, At: r.now(), Actor: q.Actor, Reason: q.Reason})
	if err == nil {
		from := before.State
		if n := len(rec.History); n > 0 {
			from = rec.History[n-1].From
		}
		return Result{Record: rec, Revision: rev, Changed: true}, from, nil
	}
	if !errors.Is(err, media.ErrInvalidTransition) {
		return Result{}, before.State, err
	}
	cur, rev, gerr := r.cat.Get(ctx, origin, id)
	if gerr != nil {
		return Result{}, before.State, gerr
	}
	if to, _ := media.Target(t); cur.State == to {
		return Result{Record: cur, Revision: rev}, cur.State, nil
	}
	return Result{Record: cur, Revision: rev}, cur.State, fmt.Errorf("%w: %s of %s media", ErrNotAllowed, t, cur.State)
}
