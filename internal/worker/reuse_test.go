package worker

import (
	"context"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/scan"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

const (
	clamav27000 = "ClamAV 1.4.6/27000/Mon Dec  7 10:00:00 2026"
	clamav27001 = "ClamAV 1.4.6/27001/Mon Dec  7 14:00:00 2026"
	newerEngine = "ClamAV 1.4.7/27001/Mon Dec  7 14:00:00 2026"
)

// TestVerdictNotReusedAcrossReload: a verdict whose engine reloaded its
// signatures during the scan is kept for its record but never reused; a
// verdict is reused only under the same engine version, signature version
// and inspection limits. (clamd cannot be made to reload mid-scan on cue:
// a fake clamd answers VERSION differently before and after.)
func TestVerdictNotReusedAcrossReload(t *testing.T) {
	fake := testenv.StartFakeClamd(t, clamav27000)
	f := newFixture(t, newClamd(t, fake.Addr()), nil, Options{})
	data := testenv.Random(64 << 10)
	scanned := func(w *Worker, want int, what string) {
		t.Helper()
		rec, rev := f.upload(data)
		before := fake.Scans()
		d := newDelivery(rec, rev, 1)
		w.Handle(context.Background(), d)
		f.requireAcked(d)
		if got := f.get(rec); got.State != media.StateClean {
			t.Fatalf("%s: state %s, want clean", what, got.State)
		}
		if n := fake.Scans() - before; n != want {
			t.Fatalf("%s: %d scans, want %d", what, n, want)
		}
	}

	fake.ReloadDuringNextScan(clamav27001)
	scanned(f.w, 1, "first copy, signatures reloaded during its scan")
	scanned(f.w, 1, "second copy: the first verdict's signatures are unknown")
	scanned(f.w, 0, "third copy: the second verdict was made on stable signatures")

	fake.SetVersion(newerEngine)
	scanned(f.w, 1, "same signature version, newer engine")

	limits := scan.DefaultArchiveLimits()
	limits.MaxEntries = 10
	inspector, err := scan.NewArchiveInspector(limits)
	if err != nil {
		t.Fatal(err)
	}
	other, err := New(f.cat, f.blobs, f.scanner, inspector, Options{}, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	scanned(other, 1, "other inspection limits")
}

// TestBlockedHashEndsBlocked: a pending record whose hash is blocked (an
// officer deleted another copy) ends blocked by policy, whether the hash
// has a reusable clean verdict, was blocked before the scan, or while the
// scan ran; the blocked hash never gets a clean hash-level verdict.
func TestBlockedHashEndsBlocked(t *testing.T) {
	ctx := context.Background()
	c := testenv.StartClamd(t)
	f := newFixture(t, &versioned{Scanner: newClamd(t, c.Addr()), sigs: "27000"}, nil, Options{AckWait: 300 * time.Millisecond})
	block := func(t *testing.T, sha string) {
		t.Helper()
		if _, _, err := f.cat.ModifyBlob(ctx, sha, func(b *media.Blob) error {
			*b = b.Block("deleted by @officer:"+origin+": illegal", time.Now())
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	requireBlocked := func(t *testing.T, rec media.Record) {
		t.Helper()
		got := f.get(rec)
		if got.State != media.StateBlocked || got.Verdict == nil || got.Verdict.Result != media.ResultHashBlocked {
			t.Fatalf("state %s verdict %+v; want blocked with %s", got.State, got.Verdict, media.ResultHashBlocked)
		}
		if last := got.History[len(got.History)-1]; last.Action != media.PolicyBlock {
			t.Fatalf("last event %+v, want %s", last, media.PolicyBlock)
		}
	}

	t.Run("reusable clean verdict", func(t *testing.T) {
		data := testenv.Random(32 << 10)
		a, arev := f.upload(data)
		b, brev := f.upload(data)
		f.requireAcked(f.handle(a, arev, 1))
		if got := f.get(a); got.State != media.StateClean {
			t.Fatalf("first copy %s, want clean", got.State)
		}
		block(t, a.SHA256)
		f.requireAcked(f.handle(b, brev, 1))
		requireBlocked(t, b)
	})
	t.Run("blocked before the scan", func(t *testing.T) {
		rec, rev := f.upload(testenv.Random(32 << 10))
		block(t, rec.SHA256)
		f.requireAcked(f.handle(rec, rev, 1))
		requireBlocked(t, rec)
		if v := f.blob(rec.SHA256).Verdict; v != nil && v.Result == media.ResultClean {
			t.Fatalf("blocked hash got the hash-level verdict %+v", v)
		}
	})
	t.Run("blocked during the scan", func(t *testing.T) {
		rec, rev := f.upload(testenv.Random(32 << 10))
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
		time.Sleep(300 * time.Millisecond) // the scan waits on the frozen clamd
		block(t, rec.SHA256)
		c.Resume()
		<-done
		f.requireAcked(d)
		requireBlocked(t, rec)
		if v := f.blob(rec.SHA256).Verdict; v != nil && v.Result == media.ResultClean {
			t.Fatalf("blocked hash got the hash-level verdict %+v", v)
		}
	})
}
