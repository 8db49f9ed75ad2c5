package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/daily"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/scan"
	"github.com/mediarepo/mediarepo/internal/storage"
)

// errNoChange aborts a Modify whose change is already in place.
var errNoChange = errors.New("no change")

// transitions maps a verdict's result to the scan transition that stores it.
var transitions = map[media.Result]media.Transition{
	media.ResultClean:       media.VerdictClean,
	media.ResultInfected:    media.VerdictInfected,
	media.ResultUnscannable: media.VerdictUnscannable,
	media.ResultFailed:      media.ScanFailed,
	media.ResultHashBlocked: media.PolicyBlock,
}

// verdictFor returns the verdict for a pending record's content and its
// source ("reused", "scan" or "policy"). The rules, in this order:
//   - the hash-level verdict is reused only when it was made on the basis
//     a scan would use now (scan.ReuseBasis: engine, engine version,
//     signature version asked for now, inspection limits), and never a
//     clean one of a blocked hash (media.Blob.ReusableVerdict);
//   - otherwise a blocked hash (blob record) ends the record quarantined
//     with the hash's infected verdict when it has one, or else blocked
//     by policy (hash_blocked): its content is never scanned into a clean
//     verdict, and a clean verdict that arrives after the hash was blocked
//     is turned into the policy block (recheckBlock);
//   - otherwise the content is scanned; the verdict's basis is empty (it
//     is never reused) when the engine's version changed during the scan.
//
// Errors wrapping storage.ErrNotFound, sealed.ErrTampered or
// errBlobMismatch are final (the blob is unusable); all others are
// transient.
func (w *Worker) verdictFor(ctx context.Context, rec media.Record) (media.Verdict, string, error) {
	blob, _, err := w.cat.GetBlob(ctx, rec.SHA256)
	switch {
	case err == nil:
		// Only a stored verdict can be reused: new content (the usual
		// case) costs no VERSION round trip to the engines, which under
		// load waits for a free clamd thread behind the running scans.
		if blob.Verdict != nil {
			ev, err := w.scanner.Version(ctx)
			if err != nil {
				return media.Verdict{}, "", fmt.Errorf("engine version: %w", err)
			}
			basis := scan.ReuseBasis(w.checker.Inspection(), ev)
			if v, ok := blob.ReusableVerdict(basis); ok { // never clean for a blocked hash
				v.Reason = strings.TrimPrefix(v.Reason+"; ", "; ") + "verdict of identical content (same SHA-256, " + basis + ") reused"
				return v, "reused", nil
			}
		}
		if blob.Blocked {
			if v := blob.Verdict; v != nil && v.Result == media.ResultInfected {
				// Whatever signatures found it: the copies of a blocked
				// infected hash are quarantined with it (and the last one
				// moves the shared blob).
				r := *v
				r.Reason = strings.TrimPrefix(r.Reason+"; ", "; ") + "infected verdict of identical content (same SHA-256, hash blocked) reused"
				return r, "reused", nil
			}
			return hashBlocked(blob, w.now()), "policy", nil
		}
	case !errors.Is(err, media.ErrNotFound):
		return media.Verdict{}, "", fmt.Errorf("%w: %w", errCatalog, err)
	}

	sctx, cancel := context.WithTimeout(ctx, w.opts.ScanTimeout)
	defer cancel()
	ra := newBlobReaderAt(sctx, w.blobs, rec.BlobKey, rec.Size)
	defer ra.Close()
	sv, err := w.scanAt(sctx, ra, rec.Size)
	switch {
	case err == nil:
	case errors.Is(err, scan.ErrUnavailable):
		return media.Verdict{}, "", err
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		return media.Verdict{}, "", fmt.Errorf("%w: scan timed out after %s: %w", scan.ErrUnavailable, w.opts.ScanTimeout, err)
	case ctx.Err() != nil:
		return media.Verdict{}, "", err
	default:
		return media.Verdict{}, "", fmt.Errorf("%w: %w", errStorage, err)
	}
	switch {
	case ra.Covered():
		if err := ra.Verify(rec.SHA256); err != nil {
			return media.Verdict{}, "", err
		}
	case sv.Result == scan.ResultClean:
		// clamd answers OK only after the end of the stream; fail closed.
		return media.Verdict{}, "", fmt.Errorf("%w: clean answer before the whole blob was read", scan.ErrUnavailable)
	}
	v := mediaVerdict(sv)
	v.Basis = sv.Basis(w.checker.Inspection())
	return v, "scan", nil
}

// hashBlocked is the policy verdict of content whose hash is blocked.
func hashBlocked(b media.Blob, at time.Time) media.Verdict {
	return media.Verdict{Result: media.ResultHashBlocked, ScannedAt: at, Reason: "the content's SHA-256 is blocked: " + b.BlockReason}
}

// recheckBlock turns a clean verdict into the hash-blocked policy verdict
// when the hash was blocked while the content was being scanned.
func (w *Worker) recheckBlock(ctx context.Context, rec media.Record, v media.Verdict, source string) (media.Verdict, string, error) {
	if v.Result != media.ResultClean {
		return v, source, nil
	}
	b, _, err := w.cat.GetBlob(ctx, rec.SHA256)
	switch {
	case errors.Is(err, media.ErrNotFound):
		return v, source, nil
	case err != nil:
		return media.Verdict{}, "", fmt.Errorf("%w: %w", errCatalog, err)
	case b.Blocked:
		return hashBlocked(b, w.now()), "policy", nil
	}
	return v, source, nil
}

// scanAt runs the checker and observes its latency.
func (w *Worker) scanAt(ctx context.Context, ra io.ReaderAt, size int64) (scan.Verdict, error) {
	start := time.Now()
	v, err := w.checker.ScanAt(ctx, ra, size)
	w.metrics.latency.Observe(time.Since(start).Seconds())
	return v, err
}

// mediaVerdict converts the engine's verdict for the catalog.
func mediaVerdict(v scan.Verdict) media.Verdict {
	r := media.ResultUnscannable // fail closed on anything unknown
	switch v.Result {
	case scan.ResultClean:
		r = media.ResultClean
	case scan.ResultInfected:
		r = media.ResultInfected
	}
	mv := media.Verdict{Result: r, Signature: v.Signature, Engine: v.Engine, EngineVersion: v.EngineVersion,
		SignatureVersion: v.SignatureVersion, ScannedAt: v.ScannedAt, Reason: v.Reason}
	for _, e := range v.Engines {
		mv.Engines = append(mv.Engines, media.EngineFinding{Name: e.Name, Result: media.Result(e.Result),
			Signature: e.Signature, Reason: e.Reason, Engine: e.Engine, EngineVersion: e.EngineVersion,
			SignatureVersion: e.SignatureVersion, SignatureDate: e.SignatureDate, Error: e.Error})
	}
	return mv
}

// applyVerdict stores v on the record with the matching scan transition
// (compare-and-set, retried on conflicts). media.ErrStale: the record is
// no longer pending.
func (w *Worker) applyVerdict(ctx context.Context, origin, id string, v media.Verdict) (media.Record, uint64, error) {
	t, ok := transitions[v.Result]
	if !ok {
		return media.Record{}, 0, fmt.Errorf("%w: result %q", media.ErrMissingVerdict, v.Result)
	}
	return apply(ctx, w.cat, origin, id, media.Change{Transition: t, At: w.now(), Actor: w.opts.Name, Verdict: &v})
}

// apply applies one state-machine change with a compare-and-set (as
// catalog.Apply, over the narrower interface the worker holds).
func apply(ctx context.Context, cat Catalog, origin, id string, c media.Change) (media.Record, uint64, error) {
	return cat.Modify(ctx, origin, id, func(r *media.Record) error {
		// The last moment before the compare-and-set: work under a lease
		// (leaseContext) stops here once the lease's expiry has passed.
		if err := ctx.Err(); err != nil {
			return err
		}
		next, err := r.Apply(c)
		if err != nil {
			return err
		}
		*r = next
		return nil
	})
}

// store writes the verdict and its follow-ups. The outcome is
// outcomeDropped when the record was decided meanwhile (officer, other
// worker): the verdict is dropped, never forced.
func (w *Worker) store(ctx context.Context, rec media.Record, v media.Verdict, source string, log *slog.Logger) (outcome, error) {
	v, source, err := w.recheckBlock(ctx, rec, v, source)
	if err != nil {
		return "", err
	}
	// The report goes into the outbox BEFORE the verdict is stored: once
	// stored, a retry finds the record decided and would not know whether
	// its report was lost. A failed publish stores nothing, and the job is
	// retried (the record stays pending, never served).
	if err := w.reportAhead(ctx, rec, v); err != nil {
		return "", err
	}
	stored, _, err := w.applyVerdict(ctx, rec.Origin, rec.ID, v)
	switch {
	case errors.Is(err, media.ErrStale):
		w.metrics.dropped.WithLabelValues("stale").Inc()
		log.Info("verdict dropped: the record was decided during the scan", "result", v.Result, "err", err)
		return outcomeDropped, nil
	case errors.Is(err, media.ErrNotFound):
		w.metrics.dropped.WithLabelValues("gone").Inc()
		log.Info("verdict dropped: the record disappeared during the scan", "result", v.Result)
		return outcomeDropped, nil
	case err != nil:
		return "", fmt.Errorf("%w: storing the verdict: %w", errCatalog, err)
	}
	w.metrics.verdicts.WithLabelValues(string(v.Result), source).Inc()
	if since := pendingSince(rec); !since.IsZero() {
		w.metrics.toVerdict.Observe(w.now().Sub(since).Seconds())
	}
	w.countDay(ctx, v, stored, log)
	log.Info("verdict stored", "result", v.Result, "signature", v.Signature, "source", source,
		"signature_version", v.SignatureVersion, "state", stored.State)
	if v.Result == media.ResultFailed || v.Result == media.ResultHashBlocked {
		return outcomeStored, nil // nothing to keep at the hash level
	}
	if err := w.settle(ctx, stored, log); err != nil {
		return "", err
	}
	return outcomeStored, nil
}

// settledByWorker reports whether the record's last event is a worker's
// scan verdict whose follow-ups settle may still have to finish.
func settledByWorker(r media.Record) bool {
	if r.Verdict == nil || len(r.History) == 0 {
		return false
	}
	switch r.History[len(r.History)-1].Action {
	case media.VerdictClean, media.VerdictInfected, media.VerdictUnscannable:
		return true
	}
	return false
}

// settle finishes a stored verdict's follow-ups; every step is idempotent:
// the hash-level verdict on the blob record (an infected one blocks the
// hash), then for an infected record the quarantine move.
func (w *Worker) settle(ctx context.Context, rec media.Record, log *slog.Logger) error {
	v := *rec.Verdict
	_, _, err := w.cat.ModifyBlob(ctx, rec.SHA256, func(b *media.Blob) error {
		if b.Verdict != nil && !b.Verdict.ScannedAt.Before(v.ScannedAt) {
			return errNoChange // ours, or a newer scan's, is in place; an officer's unblock stands
		}
		if b.Blocked && v.Result == media.ResultClean {
			return errNoChange // a blocked hash never gets a clean hash-level verdict
		}
		*b = b.WithVerdict(v, w.now())
		return nil
	})
	switch {
	case errors.Is(err, media.ErrNotFound):
		log.Warn("no blob record for the content: the hash-level verdict is not kept", "sha256", rec.SHA256)
	case err != nil && !errors.Is(err, errNoChange):
		return fmt.Errorf("%w: hash-level verdict: %w", errCatalog, err)
	}
	if v.Result != media.ResultInfected || rec.State != media.StateQuarantined {
		return nil
	}
	return w.quarantine(ctx, rec, log)
}

// quarantine moves the record's blob under QuarantinePrefix when no record
// using it is clean or pending, judged from the current records (the
// record itself included: an officer may have released it since its
// verdict was stored), then points the blob record and the records at the
// new key. An officer's release that raced the move (it saw the old key,
// so it moved nothing back) is caught by a second look after the move,
// which then moves the blob back (moveBack). Every step is idempotent, so
// a redelivery after a crash redoes the lot.
func (w *Worker) quarantine(ctx context.Context, rec media.Record, log *slog.Logger) error {
	from := rec.BlobKey
	if !strings.HasPrefix(from, w.opts.MediaPrefix) {
		return nil
	}
	holders, servable, err := w.blobUsers(ctx, rec, from)
	if err != nil {
		return err
	}
	if servable != nil {
		log.Info("infected blob stays in place: a record using it is "+string(servable.State),
			"blob", from, "other", servable.MXC())
		return nil
	}
	to := w.opts.QuarantinePrefix + strings.TrimPrefix(from, w.opts.MediaPrefix)
	moved, err := w.moveBlob(ctx, rec.SHA256, from, to, true, holders, log)
	if err != nil {
		return err
	}
	if moved {
		w.metrics.moved.Inc()
		log.Info("infected blob moved to quarantine", "from", from, "to", to, "records", len(holders))
	}
	// A release between the first look and the record updates saw the
	// old key and moved nothing back: look again.
	_, servable, err = w.blobUsers(ctx, rec, to)
	if err != nil {
		return err
	}
	if servable != nil {
		log.Warn("a record using the quarantined blob was released during the move: moving it back",
			"blob", to, "record", servable.MXC(), "state", servable.State)
		_, err = w.moveBlob(ctx, rec.SHA256, to, from, false, nil, log)
		return err
	}
	return nil
}

// blobUsers returns the current records that use the blob key (rec itself
// read afresh), and the first of them that is clean or pending, if any.
func (w *Worker) blobUsers(ctx context.Context, rec media.Record, key string) ([]catalog.Entry, *media.Record, error) {
	entries, err := w.cat.ByHash(ctx, rec.SHA256)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: records of the blob: %w", errCatalog, err)
	}
	self, rev, err := w.cat.Get(ctx, rec.Origin, rec.ID)
	switch {
	case errors.Is(err, media.ErrNotFound):
	case err != nil:
		return nil, nil, fmt.Errorf("%w: %w", errCatalog, err)
	default:
		entries = append(entries, catalog.Entry{Record: self, Revision: rev})
	}
	var users []catalog.Entry
	seen := map[string]bool{}
	for _, e := range entries {
		r := e.Record
		if r.BlobKey != key || seen[r.MXC()] {
			continue
		}
		seen[r.MXC()] = true
		if r.State == media.StateClean || r.State == media.StatePending {
			return nil, &r, nil
		}
		users = append(users, e)
	}
	return users, nil, nil
}

// moveBlob moves the sealed blob from → to (a move done before counts as
// done) and points the blob record and every record naming from at to.
// holders are the records known to use from; the others are found by
// hash. It reports whether this call moved the stored blob.
func (w *Worker) moveBlob(ctx context.Context, sha, from, to string, quarantined bool, holders []catalog.Entry, log *slog.Logger) (bool, error) {
	moved := true
	err := w.blobs.Move(ctx, from, to)
	if errors.Is(err, storage.ErrNotFound) {
		if _, serr := w.blobs.Stat(ctx, to); serr != nil {
			log.Warn("blob is missing; nothing to move", "blob", from, "err", serr)
			return false, nil
		}
		moved, err = false, nil // moved by an earlier delivery or an officer
	}
	if err != nil {
		return false, fmt.Errorf("%w: moving %s to %s: %w", errStorage, from, to, err)
	}
	_, _, err = w.cat.ModifyBlob(ctx, sha, func(b *media.Blob) error {
		if b.BlobKey != from {
			return errNoChange
		}
		*b = b.MoveTo(to, quarantined, w.now())
		return nil
	})
	if err != nil && !errors.Is(err, errNoChange) && !errors.Is(err, media.ErrNotFound) {
		return moved, fmt.Errorf("%w: blob record after moving %s: %w", errCatalog, from, err)
	}
	if holders == nil {
		entries, err := w.cat.ByHash(ctx, sha)
		if err != nil {
			return moved, fmt.Errorf("%w: records of the blob: %w", errCatalog, err)
		}
		holders = entries
	}
	for _, h := range holders {
		_, _, err := w.cat.Modify(ctx, h.Record.Origin, h.Record.ID, func(r *media.Record) error {
			if r.BlobKey != from {
				return errNoChange
			}
			r.BlobKey = to
			return nil
		})
		if err != nil && !errors.Is(err, errNoChange) && !errors.Is(err, media.ErrNotFound) {
			return moved, fmt.Errorf("%w: record %s after moving %s: %w", errCatalog, h.Record.MXC(), from, err)
		}
	}
	return moved, nil
}

// countDay adds an infection or a block to the per-day counters of the
// officers' chart. The verdict is stored already; a failed count is logged,
// not retried (the chart is statistics, the record is the truth).
func (w *Worker) countDay(ctx context.Context, v media.Verdict, stored media.Record, log *slog.Logger) {
	if w.daily == nil {
		return
	}
	kind := ""
	switch {
	case v.Result == media.ResultInfected:
		kind = daily.Infected
	case stored.State == media.StateBlocked:
		kind = daily.Blocked
	default:
		return
	}
	if err := w.daily.Add(ctx, kind, w.now()); err != nil {
		log.Warn("per-day counter not updated", "kind", kind, "err", err)
	}
}
