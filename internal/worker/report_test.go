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
