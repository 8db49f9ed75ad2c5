package worker

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediarepo/mediarepo/internal/audit"
	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/catalog/postgres"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/queue"
	"github.com/mediarepo/mediarepo/internal/report"
	"github.com/mediarepo/mediarepo/internal/scan"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

// sigVersion is the signature version the test's engines report: the test
// clamd's database is undated, so the test names its versions itself while
// the detections come from the real clamd and its real database.
type sigVersion struct{ v atomic.Pointer[string] }

func (s *sigVersion) set(v string) { s.v.Store(&v) }
func (s *sigVersion) get() string  { return *s.v.Load() }

// dated is a real engine whose signature version is the test's sigVersion;
// it counts its scans.
type dated struct {
	scan.Scanner
	sigs  *sigVersion
	scans atomic.Int64
}

func (d *dated) Version(ctx context.Context) (scan.EngineVersion, error) {
	ev, err := d.Scanner.Version(ctx)
	ev.SignatureVersion = d.sigs.get()
	return ev, err
}

func (d *dated) Scan(ctx context.Context, r io.Reader) (scan.Verdict, error) {
	d.scans.Add(1)
	v, err := d.Scanner.Scan(ctx, r)
	v.SignatureVersion = d.sigs.get()
	return v, err
}

// rescanFixture is a worker fixture over a private clamd with its own
// signature database, with an outbox and an audit log.
type rescanFixture struct {
	*fixture
	clamd  *testenv.Clamd
	sigs   *sigVersion
	engine *dated
	outbox *report.Outbox
	audit  *audit.Log
}

func newRescanFixture(t *testing.T) *rescanFixture {
	t.Helper()
	return newRescanFixtureOn(t, "kv")
}

// newRescanFixtureOn is newRescanFixture on the catalog backend "kv" or
// "postgres" (a fresh database in the test PostgreSQL).
func newRescanFixtureOn(t *testing.T, backend string) *rescanFixture {
	t.Helper()
	c := testenv.StartClamdOwnDB(t)
	sigs := &sigVersion{}
	sigs.set("27000")
	engine := &dated{Scanner: newClamd(t, c.Addr()), sigs: sigs}
	ctx := context.Background()
	var f *fixture
	switch backend {
	case "kv":
		f = newFixture(t, engine, nil, Options{})
	case "postgres":
		nc, err := nats.Connect(testenv.NATSURL(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		cat, err := postgres.New(ctx, postgres.Options{DSN: testenv.PostgresDB(t)}, testLogger(t), prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cat.Close() })
		f = newFixtureOn(t, js, nc, cat, engine, nil, testKeyring(t), Options{BackoffBase: 50 * time.Millisecond})
	default:
		t.Fatalf("unknown catalog backend %q", backend)
	}
	o, err := report.Open(ctx, f.js, report.Options{}, testLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	f.w.SetReporter(o)
	aud, err := audit.Open(ctx, f.js, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &rescanFixture{fixture: f, clamd: c, sigs: sigs, engine: engine, outbox: o, audit: aud}
}

// cleanUpload uploads data and scans it clean.
func (f *rescanFixture) cleanUpload(data []byte) media.Record {
	f.t.Helper()
	rec, rev := f.upload(data)
	f.requireAcked(f.handle(rec, rev, 1))
	if got := f.get(rec); got.State != media.StateClean {
		f.t.Fatalf("upload %s is %s, want clean", rec.MXC(), got.State)
	}
	return rec
}

// rescanner returns a rescanner over w (a process's worker).
func (f *rescanFixture) rescanner(w *Worker, opts RescanOptions, reg prometheus.Registerer) *Rescanner {
	f.t.Helper()
	rs, err := NewRescanner(w, f.cat, f.audit, opts, testLogger(f.t), reg)
	if err != nil {
		f.t.Fatal(err)
	}
	return rs
}

func (f *rescanFixture) state() catalog.RescanState {
	f.t.Helper()
	st, _, err := f.cat.GetRescanState(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	return st
}

// reports returns the reports in the outbox.
func (f *rescanFixture) reports() []report.Report {
	f.t.Helper()
	ctx := context.Background()
	st, err := f.js.Stream(ctx, report.DefaultStream)
	if err != nil {
		f.t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []report.Report
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			f.t.Fatal(err)
		}
		var r report.Report
		if err := json.Unmarshal(m.Data, &r); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// TestRescanAfterSignatureUpdate: media scanned clean, then a real
// signature update of the real clamd that detects one of them: the rescan
// quarantines that media and its copy (same bytes), reports and audits
// both, blocks the hash and moves the blob into quarantine; the other
// media stay clean and servable, and media released by an officer are
// left alone.
func TestRescanAfterSignatureUpdate(t *testing.T) {
	for _, backend := range []string{"kv", "postgres"} {
		t.Run(backend, func(t *testing.T) { testRescanAfterSignatureUpdate(t, backend) })
	}
}

func testRescanAfterSignatureUpdate(t *testing.T, backend string) {
	f := newRescanFixtureOn(t, backend)
	ctx := context.Background()
	bad := append([]byte("mediarepo rescan test "), testenv.Random(20<<10)...)
	first := f.cleanUpload(bad)
	other := f.cleanUpload(testenv.Random(20 << 10))
	dup := f.cleanUpload(bad) // the same bytes: its verdict is reused
	released, rrev := f.upload(testenv.EICAR())
	f.requireAcked(f.handle(released, rrev, 1))
	if _, _, err := apply(ctx, f.cat, released.Origin, released.ID, media.Change{Transition: media.Release, At: time.Now(), Actor: "@officer:" + origin, Reason: "test file"}); err != nil {
		t.Fatal(err)
	}

	reg := prometheus.NewRegistry()
	rs := f.rescanner(f.w, RescanOptions{Rate: 1000, Interval: time.Second}, reg)
	if err := rs.Step(ctx); err != nil { // the first basis ever seen: nothing is due
		t.Fatal(err)
	}
	if st := f.state(); st.Total != 0 || st.FinishedAt.IsZero() {
		t.Fatalf("first state %+v: nothing was scanned with other signatures", st)
	}

	f.clamd.AddSignature("Mediarepo.Rescan.Test", bad)
	f.sigs.set("27001")
	before := f.engine.scans.Load()
	if err := rs.Step(ctx); err != nil {
		t.Fatal(err)
	}
	st := f.state()
	if st.FinishedAt.IsZero() || st.Total != 3 || st.Done != 3 || st.Infected != 2 || st.Pending != nil || !strings.Contains(st.Previous, "27000") {
		t.Fatalf("state after the rescan %+v", st)
	}
	if n := f.engine.scans.Load() - before; n != 2 {
		t.Fatalf("%d scans, want 2 (the copy reuses the infected hash verdict)", n)
	}
	for _, rec := range []media.Record{first, dup} {
		got := f.get(rec)
		last := got.History[len(got.History)-1]
		if got.State != media.StateQuarantined || last.Action != media.RescanInfected || got.Verdict == nil ||
			!strings.Contains(got.Verdict.Signature, "Mediarepo.Rescan.Test") || !strings.HasPrefix(got.BlobKey, DefaultQuarantinePrefix) {
			t.Fatalf("%s after the rescan: state %s, last event %+v, verdict %+v, blob %s", rec.MXC(), got.State, last, got.Verdict, got.BlobKey)
		}
	}
	if got := f.get(other); got.State != media.StateClean || !got.Servable() {
		t.Fatalf("other media is %s after the rescan, want clean", got.State)
	}
	if got := f.get(released); got.State != media.StateClean {
		t.Fatalf("media released by an officer is %s after the rescan, want clean", got.State)
	}
	if b := f.blob(first.SHA256); !b.Blocked {
		t.Fatalf("hash not blocked: %+v", b)
	}

	var reports []report.Report
	for _, r := range f.reports() {
		if r.MXC != released.MXC() { // reported when its upload was scanned
			reports = append(reports, r)
		}
	}
	if len(reports) != 2 {
		t.Fatalf("%d reports, want 2: %+v", len(reports), reports)
	}
	for _, r := range reports {
		if r.Kind != report.KindVerdict || r.Result != string(media.ResultInfected) || r.Action != string(media.StateQuarantined) ||
			(r.MXC != first.MXC() && r.MXC != dup.MXC()) || !strings.Contains(r.Reason, "signature update") {
			t.Fatalf("report %+v", r)
		}
	}
	page, err := f.audit.List(ctx, audit.Filter{Action: ActionRescanQuarantine})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 2 || page.Entries[0].Actor != "rescan" || page.Entries[0].To != string(media.StateQuarantined) {
		t.Fatalf("audit entries %+v, want 2 quarantines by the rescan", page.Entries)
	}
	for name, want := range map[string]float64{"mediarepo_rescan_done": 3, "mediarepo_rescan_infected": 2, "mediarepo_rescan_remaining": 0, "mediarepo_rescan_running": 0} {
		if got := gather(t, reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

// gather returns the value of the gauge name in reg.
func gather(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestRescanRateResumeRestart: a step handles at most rate × interval
// media (counted, not timed); a new process continues from the stored
// cursor without scanning anything twice; a signature version that
// changes while a rescan runs does not restart it: the walk goes on with
// the new signatures, then walks the window again for what it passed
// before the change.
func TestRescanRateResumeRestart(t *testing.T) {
	f := newRescanFixture(t)
	ctx := context.Background()
	var recs []media.Record
	for range 5 {
		recs = append(recs, f.cleanUpload(testenv.Random(8<<10)))
	}
	opts := RescanOptions{Rate: 2, Interval: time.Second} // 2 per step
	if err := f.rescanner(f.w, opts, nil).Step(ctx); err != nil {
		t.Fatal(err)
	}
	f.sigs.set("27001")
	before := f.engine.scans.Load()
	step := func(what string, wantDone, wantTotal int64, finished bool) {
		t.Helper()
		// A fresh worker and rescanner each time: a restarted process.
		inspector, err := scan.NewArchiveInspector(scan.DefaultArchiveLimits())
		if err != nil {
			t.Fatal(err)
		}
		w, err := New(f.cat, f.blobs, f.engine, inspector, Options{}, testLogger(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.rescanner(w, opts, nil).Step(ctx); err != nil {
			t.Fatal(err)
		}
		if st := f.state(); st.Done != wantDone || st.Total != wantTotal || st.FinishedAt.IsZero() == finished {
			t.Fatalf("%s: state %+v, want %d done of %d, finished %v", what, st, wantDone, wantTotal, finished)
		}
	}
	step("first step", 2, 5, false)
	if n := f.engine.scans.Load() - before; n != 2 {
		t.Fatalf("first step scanned %d media, want 2 (rate 2/s × 1s)", n)
	}
	step("after a restart", 4, 5, false)
	if n := f.engine.scans.Load() - before; n != 4 {
		t.Fatalf("%d scans after the second step, want 4 (none twice)", n)
	}

	f.sigs.set("27002") // a new update while the rescan runs
	// The walk goes on: the fifth medium is scanned with 27002, and at
	// its end a second walk starts for the four passed under 27001 (the
	// fifth is due too, as its record keeps the verdict of its upload; the
	// walk reuses the hash-level verdict of 27002 and scans it not again).
	step("new signatures", 0, 5, false)
	if n := f.engine.scans.Load() - before; n != 5 {
		t.Fatalf("%d scans after the update's step, want 5 (the walk went on, nothing scanned twice)", n)
	}
	if st := f.state(); !strings.Contains(st.Basis, "27002") || !strings.Contains(st.Previous, "27001") || st.Again {
		t.Fatalf("second walk's state %+v", st)
	}
	step("second walk", 2, 5, false)
	step("second walk", 4, 5, false)
	step("second walk", 5, 5, true)
	if n := f.engine.scans.Load() - before; n != 9 {
		t.Fatalf("%d scans in all, want 9 (4 under 27001, 5 under 27002)", n)
	}
	step("finished", 5, 5, true)
	if n := f.engine.scans.Load() - before; n != 9 {
		t.Fatalf("%d scans after the rescan finished, want still 9", n)
	}
	for _, rec := range recs {
		if got := f.get(rec); got.State != media.StateClean {
			t.Fatalf("%s is %s, want clean", rec.MXC(), got.State)
		}
	}
}

// TestRescanOnlyLeaseHolder: two reconcilers (two replicas) with a
// rescanner each run at once; the rescan is done by the lease holder
// alone.
func TestRescanOnlyLeaseHolder(t *testing.T) {
	f := newRescanFixture(t)
	for range 4 {
		f.cleanUpload(testenv.Random(8 << 10))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	q := f.newQueue(queue.Options{})
	engines := make([]*dated, 2)
	done := make(chan struct{}, 2)
	for i := range engines {
		engines[i] = &dated{Scanner: f.engine.Scanner, sigs: f.sigs}
		inspector, err := scan.NewArchiveInspector(scan.DefaultArchiveLimits())
		if err != nil {
			t.Fatal(err)
		}
		w, err := New(f.cat, f.blobs, engines[i], inspector, Options{}, testLogger(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		r, err := NewReconciler(f.cat, f.blobs, q, ReconcilerOptions{Holder: []string{"replica-a", "replica-b"}[i],
			LeaseTTL: 30 * time.Second, Interval: 200 * time.Millisecond}, testLogger(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		r.SetRescanner(f.rescanner(w, RescanOptions{Rate: 100}, nil))
		go func() {
			defer func() { done <- struct{}{} }()
			_ = r.Run(ctx)
		}()
	}
	// The first passes record the first basis; then the signatures change.
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, _, err := f.cat.GetRescanState(ctx); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no rescan state after 60 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	f.sigs.set("27001")
	for {
		st, _, err := f.cat.GetRescanState(ctx)
		if err == nil && strings.Contains(st.Basis, "27001") && !st.FinishedAt.IsZero() {
			if st.Done != 4 {
				t.Fatalf("finished state %+v, want 4 done", st)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rescan not finished after 60 s: %+v %v", st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-done
	<-done
	a, b := engines[0].scans.Load(), engines[1].scans.Load()
	if a+b != 4 || a != 0 && b != 0 {
		t.Fatalf("scans by replica a: %d, by replica b: %d; want all 4 by one of them", a, b)
	}
}
