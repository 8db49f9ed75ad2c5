package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediarepo/mediarepo/internal/audit"
	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/scan"
	"github.com/mediarepo/mediarepo/internal/sealed"
	"github.com/mediarepo/mediarepo/internal/storage"
)

// Rescans after a signature update (BSI OPS.1.1.4 A6, design §5b).
//
// The reconciler calls Step in every pass, under its lease, so one replica
// rescans at a time. A step asks the engines for their versions; when the
// basis (scan.ReuseBasis: every engine's version and signature version,
// and the inspection's limits) differs from the one the stored rescan
// state names, a new rescan starts over the window of clean media
// uploaded within Window before now. A new basis while one runs does not
// restart it: the walk goes on with the new signatures and, when it
// ends, walks the window once more for the records it passed before the
// change (catalog.RescanState.Again). Restarting instead would, with
// updates several times a day and a walk longer than that, rescan the
// oldest media over and over and never reach the newest. Each step then handles at most Rate × the reconciler's interval
// records, paced at Rate per second, oldest upload first, through the
// catalog's index of clean media by upload time (catalog.Rescans), and
// stores its cursor after every record, so a restart or another replica
// continues where it stopped.
//
// A record is scanned again only when its verdict is a clean scan made on
// another basis: media released by an officer (their verdict is not a
// clean scan) and media scanned after the update are left alone. Clean
// media stay served while the rescan runs; nothing is written for media
// that are still clean except the hash-level verdict, which lets copies
// of the same bytes reuse it. Media found infected now go clean →
// quarantined (media.RescanInfected) with the new verdict, together with
// every other clean record of the same bytes; each is reported through
// the outbox and audited, the hash is blocked and the blob moved into
// quarantine (settle). Unscannable results and policy blocks leave the
// media as they were (they were scanned clean before; an officer sees the
// log); blobs that cannot be read are counted as failed and skipped.
// Transient trouble (an engine down) ends the step without moving the
// cursor: the next pass tries the same record again.

// RescanOptions configure the rescan after a signature update.
type RescanOptions struct {
	// Window is how far back from the update clean media are rescanned
	// (scan.rescan_window, 7 days).
	Window time.Duration
	// Rate is the most records handled per second (scan.rescan_rate); 0
	// disables rescans.
	Rate float64
	// Interval is the reconciler's interval: a step handles at most
	// Rate × Interval records (at least one).
	Interval time.Duration
	// Name is the actor recorded in history events, reports and the audit
	// log ("rescan").
	Name string
}

// RescanCatalog is what the rescan needs of the catalog.
type RescanCatalog interface {
	Catalog
	catalog.Rescans
}

// Auditor appends to the audit log (audit.Log).
type Auditor interface {
	Append(ctx context.Context, e audit.Entry) (audit.Entry, error)
}

// ActionRescanQuarantine is the audit action of a quarantine by the rescan.
const ActionRescanQuarantine = "rescan_quarantine"

// Rescanner runs the rescan; see above.
type Rescanner struct {
	w     *Worker
	cat   RescanCatalog
	audit Auditor
	opts  RescanOptions
	log   *slog.Logger

	remaining, done, infected, running prometheus.Gauge
	scanned                            prometheus.Counter
}

// NewRescanner returns the rescan over w's scanner, blobs and reports.
// audit may be nil (nothing audited). reg may be nil.
func NewRescanner(w *Worker, cat RescanCatalog, audit Auditor, opts RescanOptions, log *slog.Logger, reg prometheus.Registerer) (*Rescanner, error) {
	if w == nil || cat == nil || log == nil || opts.Rate <= 0 {
		return nil, fmt.Errorf("rescan: worker, catalog, logger and a positive rate are required")
	}
	if opts.Window <= 0 {
		opts.Window = 7 * 24 * time.Hour
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Minute
	}
	if opts.Name == "" {
		opts.Name = "rescan"
	}
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	r := &Rescanner{w: w, cat: cat, audit: audit, opts: opts, log: log,
		remaining: gauge("mediarepo_rescan_remaining", "Records of the current rescan window still to be handled (on the reconciler lease holder)."),
		done:      gauge("mediarepo_rescan_done", "Records of the current rescan window handled so far (rescanned, or skipped as scanned with the current signatures)."),
		infected:  gauge("mediarepo_rescan_infected", "Records of the current rescan window found infected and quarantined."),
		running:   gauge("mediarepo_rescan_running", "1 while a rescan after a signature update has records left."),
		scanned: prometheus.NewCounter(prometheus.CounterOpts{Name: "mediarepo_rescan_scans_total",
			Help: "Records sent to the engines again by the rescan (reused hash-level verdicts not counted)."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{r.remaining, r.done, r.infected, r.running, r.scanned} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("rescan: register metrics: %w", err)
			}
		}
	}
	return r, nil
}

// quota is how many records one step handles.
func (r *Rescanner) quota() int {
	return max(1, int(r.opts.Rate*r.opts.Interval.Seconds()))
}

// Step runs one slice of the rescan (see above); the caller holds the
// reconciler lease and passes its lease context. It returns the first
// error that stopped it; the stored state is consistent whenever it
// returns.
func (r *Rescanner) Step(ctx context.Context) error {
	ev, err := r.w.scanner.Version(ctx)
	if err != nil {
		return fmt.Errorf("rescan: engine version: %w", err)
	}
	basis := scan.ReuseBasis(r.w.checker.Inspection(), ev)
	if basis == "" {
		return nil // an undated signature database: no version to compare
	}
	st, rev, err := r.state(ctx, basis)
	if err != nil {
		return err
	}
	defer func() { r.show(st) }()
	if st.Pending != nil {
		if err := r.finishPending(ctx, &st, &rev); err != nil {
			return err
		}
	}
	if !st.FinishedAt.IsZero() {
		return nil
	}
	start := time.Now()
	quota := r.quota()
	for handled := 0; ; {
		page, err := r.cat.ListCleanByUpload(ctx, catalog.CleanQuery{Since: st.Since, After: st.Cursor, Limit: rescanPage})
		if err != nil {
			return fmt.Errorf("rescan: listing clean media: %w", err)
		}
		moved := false // the cursor moved past records not saved yet
		for _, e := range page {
			if handled == quota {
				if moved {
					return r.save(ctx, &st, &rev)
				}
				return nil
			}
			pos := catalog.UploadPositionOf(e.Record)
			if !due(e.Record, basis) {
				st.Cursor, moved = &pos, true // scanned after the update, or released by an officer
				continue
			}
			if err := pace(ctx, start, handled, r.opts.Rate); err != nil {
				return err
			}
			handled++
			if err := r.handle(ctx, &st, &rev, e); err != nil {
				return err
			}
			moved = false
		}
		if len(page) < rescanPage {
			st.FinishedAt = time.Now()
			if st.Again {
				// Walk the window again for what this walk passed
				// before the basis changed.
				r.log.Info("rescan walk finished; the signatures changed during it: walking the window again", "basis", st.Basis, "done", st.Done, "infected", st.Infected, "failed", st.Failed)
				next, err := r.begin(ctx, basis, st.AgainFrom, st.Pending, &rev)
				st = next
				return err
			}
			if err := r.save(ctx, &st, &rev); err != nil {
				return err
			}
			r.log.Info("rescan after a signature update finished", "basis", st.Basis, "done", st.Done, "infected", st.Infected, "failed", st.Failed)
			return nil
		}
		if moved {
			if err := r.save(ctx, &st, &rev); err != nil {
				return err
			}
		}
	}
}

// rescanPage is the page size of the rescan's listing.
const rescanPage = 100

// state returns the stored state, or starts a new rescan when none is
// stored or its basis is not the current one.
func (r *Rescanner) state(ctx context.Context, basis string) (catalog.RescanState, uint64, error) {
	st, rev, err := r.cat.GetRescanState(ctx)
	if err != nil && !errors.Is(err, media.ErrNotFound) {
		return st, 0, fmt.Errorf("rescan: state: %w", err)
	}
	if err == nil && st.Basis == basis {
		return st, rev, nil
	}
	if err == nil && st.FinishedAt.IsZero() && st.Cursor != nil {
		// A walk under way goes on with the new basis (see above).
		from := st.Basis
		st.Basis, st.Again, st.AgainFrom = basis, true, from
		if err := r.save(ctx, &st, &rev); err != nil {
			return st, 0, err
		}
		r.log.Warn("engine signatures changed during a rescan: it goes on with the new signatures and walks the window again after", "previous", enginesOf(from), "basis", enginesOf(basis), "done", st.Done, "of", st.Total)
		return st, rev, nil
	}
	next, err := r.begin(ctx, basis, st.Basis, st.Pending, &rev)
	if err != nil {
		return st, 0, err
	}
	return next, rev, nil
}

// begin stores and returns a new walk over the window with basis, after
// media scanned with prev, at *rev; pending carries over the follow-ups of
// an infected record not finished yet.
func (r *Rescanner) begin(ctx context.Context, basis, prev string, pending *catalog.UploadPosition, rev *uint64) (catalog.RescanState, error) {
	now := time.Now()
	next := catalog.RescanState{Basis: basis, Previous: prev, StartedAt: now, Since: now.Add(-r.opts.Window), Pending: pending}
	total, err := r.count(ctx, next.Since, basis)
	if err != nil {
		return next, err
	}
	next.Total = total
	if err := r.save(ctx, &next, rev); err != nil {
		return next, err
	}
	msg := "engine signatures changed: rescanning the clean media of the window"
	if prev == "" {
		msg = "first rescan state: rescanning the clean media of the window not scanned with the current signatures"
	}
	r.log.Warn(msg, "previous", enginesOf(prev), "basis", enginesOf(basis), "since", next.Since, "media", total, "rate_per_second", r.opts.Rate)
	return next, nil
}

// count returns the records of the window that a rescan with basis would
// scan (one read of the window, when a rescan starts).
func (r *Rescanner) count(ctx context.Context, since time.Time, basis string) (int64, error) {
	var n int64
	q := catalog.CleanQuery{Since: since, Limit: catalog.MaxCleanPage}
	for {
		page, err := r.cat.ListCleanByUpload(ctx, q)
		if err != nil {
			return 0, fmt.Errorf("rescan: counting the window: %w", err)
		}
		for _, e := range page {
			if due(e.Record, basis) {
				n++
			}
		}
		if len(page) < q.Limit {
			return n, nil
		}
		pos := catalog.UploadPositionOf(page[len(page)-1].Record)
		q.After = &pos
	}
}

// due reports whether the rescan scans rec: its verdict is a clean scan
// made on another basis.
func due(rec media.Record, basis string) bool {
	v := rec.Verdict
	return rec.State == media.StateClean && v != nil && v.Result == media.ResultClean && v.Basis != basis
}

// save stores st at *rev (compare-and-set) and moves *rev on. It refuses
// once ctx ended (the lease's expiry passed: another replica may rescan).
func (r *Rescanner) save(ctx context.Context, st *catalog.RescanState, rev *uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	next, err := r.cat.PutRescanState(ctx, *st, *rev)
	if err != nil {
		return fmt.Errorf("rescan: saving the state: %w", err)
	}
	*rev = next
	r.show(*st)
	return nil
}

// show sets the progress gauges from st.
func (r *Rescanner) show(st catalog.RescanState) {
	r.done.Set(float64(st.Done))
	r.infected.Set(float64(st.Infected))
	r.remaining.Set(float64(max(st.Total-st.Done, 0)))
	if st.FinishedAt.IsZero() && st.Total > 0 {
		r.running.Set(1)
		return
	}
	r.remaining.Set(0)
	r.running.Set(0)
}

// pace waits until the n-th record of a step may start at rate per second.
func pace(ctx context.Context, start time.Time, n int, rate float64) error {
	wait := time.Until(start.Add(time.Duration(float64(n) / rate * float64(time.Second))))
	if wait <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// handle rescans one record that is due and moves the cursor past it.
func (r *Rescanner) handle(ctx context.Context, st *catalog.RescanState, rev *uint64, e catalog.Entry) error {
	rec := e.Record
	pos := catalog.UploadPositionOf(rec)
	log := r.log.With("media", rec.MXC())
	v, source, err := r.w.verdictFor(ctx, rec)
	switch {
	case errors.Is(err, errBlobMismatch) || errors.Is(err, storage.ErrNotFound) || errors.Is(err, sealed.ErrTampered):
		log.Error("rescan: the stored blob cannot be read; the media is left as it is", "blob", rec.BlobKey, "err", err)
		st.Failed++
	case err != nil:
		return fmt.Errorf("rescan of %s: %w", rec.MXC(), err)
	default:
		if source == "scan" {
			r.scanned.Inc()
		}
		if err := r.judge(ctx, st, rev, rec, v, log); err != nil {
			return err
		}
	}
	st.Cursor = &pos
	st.Done++
	return r.save(ctx, st, rev)
}

// judge acts on a record's new verdict.
func (r *Rescanner) judge(ctx context.Context, st *catalog.RescanState, rev *uint64, rec media.Record, v media.Verdict, log *slog.Logger) error {
	switch v.Result {
	case media.ResultClean:
		// Still clean: keep the new verdict at the hash level, so copies
		// of the same bytes reuse it; the record itself is not written.
		rec.Verdict = &v
		return r.w.settle(ctx, rec, log)
	case media.ResultInfected:
	default:
		log.Warn("rescan: the media was scanned clean before and is now "+string(v.Result)+"; it is left as it is",
			"reason", v.Reason, "signature", v.Signature)
		return nil
	}
	pos := catalog.UploadPositionOf(rec)
	st.Pending = &pos
	if err := r.save(ctx, st, rev); err != nil {
		return err
	}
	v.Reason = "rescan after a signature update (" + enginesOf(st.Previous) + " → " + enginesOf(st.Basis) + ")"
	stored, _, err := apply(ctx, r.w.cat, rec.Origin, rec.ID, media.Change{Transition: media.RescanInfected, At: time.Now(), Actor: r.opts.Name, Reason: v.Reason, Verdict: &v})
	switch {
	case errors.Is(err, media.ErrStale) || errors.Is(err, media.ErrNotFound):
		log.Info("rescan: the media was decided meanwhile; the finding is dropped", "signature", v.Signature)
	case err != nil:
		return fmt.Errorf("rescan: quarantining %s: %w", rec.MXC(), err)
	default:
		st.Infected++
		log.Warn("rescan: media found infected after a signature update: quarantined", "signature", v.Signature, "basis", st.Basis)
	}
	if err == nil {
		if err := r.followUps(ctx, st, stored, log); err != nil {
			return err
		}
	}
	st.Pending = nil
	return nil
}

// finishPending finishes the follow-ups of a record quarantined by an
// earlier step that stopped before they were done.
func (r *Rescanner) finishPending(ctx context.Context, st *catalog.RescanState, rev *uint64) error {
	p := st.Pending
	rec, _, err := r.w.cat.Get(ctx, p.Origin, p.ID)
	switch {
	case errors.Is(err, media.ErrNotFound):
	case err != nil:
		return fmt.Errorf("rescan: %w", err)
	case rec.State == media.StateQuarantined && len(rec.History) > 0 && rec.History[len(rec.History)-1].Action == media.RescanInfected:
		if err := r.followUps(ctx, st, rec, r.log.With("media", rec.MXC())); err != nil {
			return err
		}
	}
	// Still clean: the cursor did not pass it, it is scanned again.
	st.Pending = nil
	return r.save(ctx, st, rev)
}

// followUps quarantines the other clean records of the same bytes, then
// reports and audits each record quarantined, and settles the hash (block,
// quarantine move). Every step is idempotent: reports carry an ID made of
// the record and the verdict's time.
func (r *Rescanner) followUps(ctx context.Context, st *catalog.RescanState, rec media.Record, log *slog.Logger) error {
	quarantined := []media.Record{rec}
	copies, err := r.w.cat.ByHash(ctx, rec.SHA256)
	if err != nil {
		return fmt.Errorf("rescan: copies of %s: %w", rec.MXC(), err)
	}
	for _, c := range copies {
		if c.Record.MXC() == rec.MXC() || c.Record.State != media.StateClean || c.Record.Verdict == nil || c.Record.Verdict.Result != media.ResultClean {
			continue // not served, or released by an officer: their decision stands
		}
		v := *rec.Verdict
		v.Reason = "identical content (same SHA-256) found infected by the " + v.Reason
		stored, _, err := apply(ctx, r.w.cat, c.Record.Origin, c.Record.ID, media.Change{Transition: media.RescanInfected, At: time.Now(), Actor: r.opts.Name, Reason: v.Reason, Verdict: &v})
		switch {
		case errors.Is(err, media.ErrStale) || errors.Is(err, media.ErrNotFound):
			continue
		case err != nil:
			return fmt.Errorf("rescan: quarantining the copy %s: %w", c.Record.MXC(), err)
		}
		st.Infected++
		quarantined = append(quarantined, stored)
	}
	for _, q := range quarantined {
		if err := r.reportAndAudit(ctx, q); err != nil {
			return err
		}
	}
	return r.w.settle(ctx, quarantined[len(quarantined)-1], log)
}

// reportAndAudit puts the rescan's finding into the outbox and the audit
// log.
func (r *Rescanner) reportAndAudit(ctx context.Context, rec media.Record) error {
	if err := r.w.report(ctx, rec); err != nil {
		return fmt.Errorf("rescan: %w", err)
	}
	if r.audit == nil {
		return nil
	}
	_, err := r.audit.Append(ctx, audit.Entry{At: rec.Verdict.ScannedAt, Actor: r.opts.Name, Action: ActionRescanQuarantine,
		Target: rec.MXC(), Reason: rec.Verdict.Reason, From: string(media.StateClean), To: string(rec.State),
		Outcome: audit.OutcomeChanged, Detail: "signature " + rec.Verdict.Signature + "; report " + reportID(rec)})
	if err != nil {
		return fmt.Errorf("rescan: audit: %w", err)
	}
	return nil
}

// enginesOf returns the engines' part of a basis (scan.ReuseBasis), for
// people: the inspection's limits after it are left out.
func enginesOf(basis string) string {
	engines, _, _ := strings.Cut(basis, "; ")
	if engines == "" {
		return "unknown"
	}
	return engines
}

// reportID is the outbox ID of a record's verdict report: the record and
// its verdict's time, so a report published again is stored once.
func reportID(rec media.Record) string {
	return "verdict-" + rec.Origin + "-" + rec.ID + "-" + strconv.FormatInt(rec.Verdict.ScannedAt.UnixNano(), 36)
}
