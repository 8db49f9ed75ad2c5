package worker

import (
	"context"
	"fmt"

	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/report"
)

// Reporter takes infection reports into the durable outbox
// (report.Outbox); Publish returns once the report is stored.
type Reporter interface {
	Publish(ctx context.Context, r report.Report) error
}

// SetReporter makes the worker report every verdict that is not clean
// (BSI OPS.1.1.4 A9). Call it before the worker runs.
func (w *Worker) SetReporter(r Reporter) { w.reports = r }

// reportAhead reports the verdict v that is about to be stored on the
// pending record rec, as report will describe the stored record (same ID,
// the state the verdict's transition leads to), so that the outbox stores
// it once whichever of them publishes it.
func (w *Worker) reportAhead(ctx context.Context, rec media.Record, v media.Verdict) error {
	to, ok := media.Target(transitions[v.Result])
	if !ok {
		return nil // not a verdict applyVerdict stores
	}
	rec.Verdict, rec.State = &v, to
	return w.report(ctx, rec)
}

// report puts the record's verdict into the outbox when it is not clean.
// The report's ID comes from the record and its verdict's time, so a
// redelivered job reports the same verdict under the same ID (stored
// once by the outbox, dropped by the sinks).
func (w *Worker) report(ctx context.Context, rec media.Record) error {
	v := rec.Verdict
	if w.reports == nil || v == nil || v.Result == media.ResultClean {
		return nil
	}
	r := report.Report{
		ID:   reportID(rec),
		Kind: report.KindVerdict, At: v.ScannedAt, MXC: "mxc://" + rec.Origin + "/" + rec.ID,
		Uploader: rec.Uploader, SHA256: rec.SHA256, Size: rec.Size, Result: string(v.Result),
		Signature: v.Signature, Action: string(rec.State), State: string(rec.State), Reason: v.Reason,
	}
	if r.At.IsZero() {
		r.At = w.now()
	}
	if len(v.Engines) == 0 {
		r.Findings = []report.Finding{{Engine: v.Engine, Result: string(v.Result), Signature: v.Signature,
			EngineVersion: v.EngineVersion, SignatureVersion: v.SignatureVersion}}
	}
	for _, e := range v.Engines {
		r.Findings = append(r.Findings, report.Finding{Engine: e.Name, Result: string(e.Result), Signature: e.Signature,
			EngineVersion: e.Engine + " " + e.EngineVersion, SignatureVersion: e.SignatureVersion, Error: e.Error})
	}
	if err := w.reports.Publish(ctx, r); err != nil {
		return fmt.Errorf("%w: infection report: %w", errCatalog, err)
	}
	w.metrics.reported.WithLabelValues(string(v.Result)).Inc()
	return nil
}
