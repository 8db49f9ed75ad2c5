package worker

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/report"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

// TestInfectedVerdictsAreReported: an infected upload puts one report in
// the outbox (mxc, uploader, hash, findings; no content), a clean one
// none, and a redelivered job of the infected upload reports it under
// the same ID (stored once).
func TestInfectedVerdictsAreReported(t *testing.T) {
	f := newFixture(t, nil, nil, Options{})
	ctx := context.Background()
	o, err := report.Open(ctx, f.js, report.Options{}, testLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	f.w.SetReporter(o)

	clean, crev := f.upload(testenv.Random(10 << 10))
	f.requireAcked(f.handle(clean, crev, 1))
	rec, rev := f.upload(testenv.EICAR())
	f.requireAcked(f.handle(rec, rev, 1))
	f.requireAcked(f.handle(rec, rev, 2)) // redelivery after a lost ack

	st, err := f.js.Stream(ctx, report.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Fatalf("%d reports in the outbox, want 1 (the infected upload, once)", info.State.Msgs)
	}
	msg, err := st.GetMsg(ctx, info.State.FirstSeq)
	if err != nil {
		t.Fatal(err)
	}
	var r report.Report
	if err := json.Unmarshal(msg.Data, &r); err != nil {
		t.Fatal(err)
	}
	got := f.get(rec)
	if r.Kind != report.KindVerdict || r.MXC != "mxc://"+rec.Origin+"/"+rec.ID || r.Uploader != rec.Uploader ||
		r.SHA256 != rec.SHA256 || r.Result != string(media.ResultInfected) || r.Action != string(media.StateQuarantined) ||
		len(r.Findings) != 1 || r.Findings[0].Signature != got.Verdict.Signature {
		t.Errorf("report %+v for record %+v", r, got)
	}
}

// TestReportNotLostWhenOutboxFails: a verdict is reported before it is
// stored. With the outbox unreachable, an infected upload's verdict is
// not stored (the record stays pending, never served) on any delivery,
// the last one included, so no retry can find the record decided with
// its report missing; once the outbox is back, the requeued job stores
// the verdict and the report is in the outbox, once.
func TestReportNotLostWhenOutboxFails(t *testing.T) {
	f := newFixture(t, nil, nil, Options{})
	ctx := context.Background()
	o, err := report.Open(ctx, f.js, report.Options{}, testLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	f.w.SetReporter(o)
	if err := f.js.DeleteStream(ctx, report.DefaultStream); err != nil { // the outbox is gone
		t.Fatal(err)
	}
	rec, rev := f.upload(testenv.EICAR())

	d := f.handle(rec, rev, 1)
	if acks, naks, _ := d.answers(); acks != 0 || len(naks) != 1 {
		t.Fatalf("first delivery with the outbox down: %d acks, naks %v; want a retry", acks, naks)
	}
	if got := f.get(rec); got.State != media.StatePending {
		t.Fatalf("after a failed report the record is %s: a verdict was stored without its report", got.State)
	}
	f.requireAcked(f.handleLast(rec, rev, 2, true)) // the last delivery: acked, nothing stored
	if got := f.get(rec); got.State != media.StatePending {
		t.Fatalf("after the last delivery with the outbox down the record is %s, want pending (the reconciler retries it)", got.State)
	}

	if _, err := report.Open(ctx, f.js, report.Options{}, testLogger(t), prometheus.NewRegistry()); err != nil { // back
		t.Fatal(err)
	}
	f.requireAcked(f.handle(rec, rev, 1)) // the reconciler's requeued job
	f.requireAcked(f.handle(rec, rev, 2)) // and a redelivery of it
	if got := f.get(rec); got.State != media.StateQuarantined {
		t.Fatalf("record %s, want quarantined", got.State)
	}
	st, err := f.js.Stream(ctx, report.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Fatalf("%d reports in the outbox, want 1", info.State.Msgs)
	}
	msg, err := st.GetMsg(ctx, info.State.FirstSeq)
	if err != nil {
		t.Fatal(err)
	}
	var r report.Report
	if err := json.Unmarshal(msg.Data, &r); err != nil {
		t.Fatal(err)
	}
	if r.MXC != rec.MXC() || r.Result != string(media.ResultInfected) || r.Action != string(media.StateQuarantined) {
		t.Fatalf("report %+v", r)
	}
}
