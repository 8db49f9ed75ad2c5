package worker

import (
	"context"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/scan"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

// TestClamdDownRetriesThenBlocks: with clamd stopped, jobs are handed back
// with growing delays and nothing becomes clean; the last delivery blocks
// the media; after clamd is back, new jobs drain.
func TestClamdDownRetriesThenBlocks(t *testing.T) {
	c := testenv.StartClamd(t)
	f := newFixture(t, newClamd(t, c.Addr()), nil, Options{BackoffBase: 100 * time.Millisecond})
	rec, rev := f.upload(testenv.Random(50 << 10))
	c.Stop()

	var delays []time.Duration
	for n := uint64(1); n < 3; n++ {
		d := f.handle(rec, rev, n)
		acks, naks, _ := d.answers()
		if acks != 0 || len(naks) != 1 {
			t.Fatalf("delivery %d with clamd down: %d acks, naks %v; want one nak", n, acks, naks)
		}
		delays = append(delays, naks[0])
		if got := f.get(rec); got.State != media.StatePending {
			t.Fatalf("delivery %d: state %s with clamd down, want pending", n, got.State)
		}
	}
	if delays[1] <= delays[0] {
		t.Errorf("backoff delays %v do not grow", delays)
	}
	if n := value(t, f.w.metrics.retries.WithLabelValues("engine")); n != 2 {
		t.Errorf("%v engine retries counted, want 2", n)
	}

	f.requireAcked(f.handleLast(rec, rev, 3, true))
	got := f.get(rec)
	if got.State != media.StateBlocked || got.Verdict.Result != media.ResultFailed || !strings.Contains(got.Verdict.Reason, "3 deliveries") {
		t.Fatalf("after the last delivery: %s %+v; want blocked as scan failed", got.State, got.Verdict)
	}
	if n := value(t, f.w.metrics.failures); n != 1 {
		t.Errorf("%v scan failures counted, want 1", n)
	}

	c.Start()
	later, lrev := f.upload(testenv.Random(50 << 10))
	f.requireAcked(f.handle(later, lrev, 1))
	if got := f.get(later); got.State != media.StateClean {
		t.Fatalf("after clamd restarted: %s, want clean", got.State)
	}
}

// TestOfficerDecisionStands: an officer quarantines media while its scan
// is in flight (clamd frozen); the worker's clean verdict is dropped and
// the job acked.
func TestOfficerDecisionStands(t *testing.T) {
	c := testenv.StartClamd(t)
	f := newFixture(t, newClamd(t, c.Addr()), nil, Options{AckWait: 300 * time.Millisecond})
	ctx := context.Background()
	for _, officer := range []media.Transition{media.Quarantine, media.Delete} {
		t.Run(string(officer), func(t *testing.T) {
			rec, rev := f.upload(testenv.Random(50 << 10))
			if err := f.w.Ready(ctx); err != nil {
				t.Fatal(err)
			}
			c.Pause()
			d := newDelivery(rec, rev, 1)
			done := make(chan struct{})
			go func() {
				defer close(done)
				f.w.Handle(ctx, d)
			}()
			time.Sleep(500 * time.Millisecond) // the scan is waiting on clamd
			_, _, err := apply(ctx, f.cat, rec.Origin, rec.ID, media.Change{Transition: officer, At: time.Now(), Actor: "@officer:" + origin, Reason: "reported"})
			if err != nil {
				t.Fatal(err)
			}
			c.Resume()
			<-done
			f.requireAcked(d)
			if _, _, progress := d.answers(); progress == 0 {
				t.Error("no InProgress heartbeat during a scan longer than AckWait")
			}
			got := f.get(rec)
			last := got.History[len(got.History)-1]
			if last.Action != officer || got.Verdict != nil {
				t.Fatalf("state %s, last event %+v, verdict %+v: the officer's decision must stand", got.State, last, got.Verdict)
			}
		})
	}
	if n := value(t, f.w.metrics.dropped.WithLabelValues("stale")); n != 2 {
		t.Errorf("%v stale verdicts dropped, want 2", n)
	}
}

// versioned reports a signature version for the real clamd, whose test
// database has none (so that verdict reuse can be seen), and counts scans.
type versioned struct {
	scan.Scanner
	sigs  string
	scans atomic.Int64
}

func (v *versioned) Version(ctx context.Context) (scan.EngineVersion, error) {
	ev, err := v.Scanner.Version(ctx)
	ev.SignatureVersion = v.sigs
	return ev, err
}

func (v *versioned) Scan(ctx context.Context, r io.Reader) (scan.Verdict, error) {
	v.scans.Add(1)
	sv, err := v.Scanner.Scan(ctx, r)
	sv.SignatureVersion = v.sigs
	return sv, err
}

// TestVerdictReuse: identical content scanned under the same signature
// version is not scanned again; under another version it is.
func TestVerdictReuse(t *testing.T) {
	s := &versioned{Scanner: newClamd(t, testenv.ClamdAddr(t)), sigs: "27000"}
	f := newFixture(t, s, nil, Options{})
	for _, data := range [][]byte{testenv.Random(100 << 10), testenv.EICAR()} {
		a, arev := f.upload(data)
		b, brev := f.upload(data)
		before := s.scans.Load()
		f.requireAcked(f.handle(a, arev, 1))
		f.requireAcked(f.handle(b, brev, 1))
		if n := s.scans.Load() - before; n != 1 {
			t.Fatalf("%d scans for two records of identical content, want 1", n)
		}
		ga, gb := f.get(a), f.get(b)
		if ga.State != gb.State || gb.Verdict.ScannedAt != ga.Verdict.ScannedAt || !strings.Contains(gb.Verdict.Reason, "reused") {
			t.Fatalf("a %s %+v, b %s %+v: want b to carry a's verdict", ga.State, ga.Verdict, gb.State, gb.Verdict)
		}
	}
	if n := value(t, f.w.metrics.verdicts.WithLabelValues("infected", "reused")); n != 1 {
		t.Errorf("%v reused infected verdicts counted, want 1", n)
	}

	data := testenv.Random(10 << 10)
	a, arev := f.upload(data)
	f.requireAcked(f.handle(a, arev, 1))
	s.sigs = "27001"
	b, brev := f.upload(data)
	before := s.scans.Load()
	f.requireAcked(f.handle(b, brev, 1))
	if s.scans.Load() != before+1 {
		t.Fatal("a verdict of older signatures was reused")
	}
	if bl := f.blob(b.SHA256); bl.Verdict.SignatureVersion != "27001" {
		t.Fatalf("hash-level verdict %+v not updated to the newer scan", bl.Verdict)
	}
}

// TestJobBeforeItsRecordIsVisible: a job whose record cannot be read yet
// (a lagging catalog read in a cluster) is retried, not dropped; once the
// record is visible the job decides it; a job whose record never appears
// is dropped on its last delivery without blocking anything. Found by the
// fault test (internal/faults): dropped jobs left media pending until the
// reconciler's re-enqueue 10 minutes later.
func TestJobBeforeItsRecordIsVisible(t *testing.T) {
	f := newFixture(t, newClamd(t, testenv.ClamdAddr(t)), nil, Options{})
	rec, rev := f.upload(testenv.Random(10 << 10))
	ghost := rec
	ghost.ID = media.NewMediaID() // its job exists, its record does not (yet)

	d := f.handle(ghost, rev, 1)
	if acks, naks, _ := d.answers(); acks != 0 || len(naks) != 1 {
		t.Fatalf("job of an invisible record: %d acks, naks %v; want one nak (retry)", acks, naks)
	}
	f.requireAcked(f.handle(rec, rev, 2))
	if got := f.get(rec); got.State != media.StateClean {
		t.Fatalf("once visible: %s, want clean", got.State)
	}
	f.requireAcked(f.handleLast(ghost, rev, 5, true))
	if _, _, err := f.cat.Get(context.Background(), ghost.Origin, ghost.ID); err == nil {
		t.Fatal("the last delivery of a job without a record created one")
	}
}
