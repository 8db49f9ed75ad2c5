package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/queue"
	"github.com/mediarepo/mediarepo/internal/storage"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

// published returns the jobs in q's stream, oldest first.
func (f *fixture) published(q *queue.Queue) []queue.Job {
	f.t.Helper()
	ctx := context.Background()
	st, err := q.Stats(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	stream, err := f.js.Stream(ctx, "MEDIAREPO_SCAN")
	if err != nil {
		f.t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	var jobs []queue.Job
	for seq := info.State.FirstSeq; st.Messages > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := stream.GetMsg(ctx, seq)
		if err != nil {
			continue // acked or deleted
		}
		var j queue.Job
		if err := json.Unmarshal(m.Data, &j); err != nil {
			f.t.Fatal(err)
		}
		jobs = append(jobs, j)
	}
	return jobs
}

func TestReconcilerPass(t *testing.T) {
	f := newFixture(t, nil, nil, Options{})
	ctx := context.Background()
	q := f.newQueue(queue.Options{})
	r, err := NewReconciler(f.cat, f.blobs, q, ReconcilerOptions{Holder: "test-1", StuckAfter: time.Minute, GCGrace: time.Hour}, testLogger(t), f.reg)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	r.now = func() time.Time { return now }

	stuck, stuckRev := f.upload(testenv.Random(1 << 10))
	fresh, _ := f.upload(testenv.Random(1 << 10))
	fresh = f.get(fresh)
	// stuck entered pending two minutes ago.
	if _, _, err := f.cat.Modify(ctx, stuck.Origin, stuck.ID, func(rec *media.Record) error {
		rec.History[len(rec.History)-1].At = now.Add(-2 * time.Minute)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	_, stuckRev, _ = f.cat.Get(ctx, stuck.Origin, stuck.ID)

	expired := media.NewReserved(origin, media.NewMediaID(), "@alice:"+origin, now.Add(-2*time.Hour), now.Add(-time.Second))
	waiting := media.NewReserved(origin, media.NewMediaID(), "@alice:"+origin, now, now.Add(time.Hour))
	for _, rec := range []media.Record{expired, waiting} {
		if _, err := f.cat.Create(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}

	// An orphan blob (no record), old enough; and a recent one.
	put := func() string {
		k := DefaultMediaPrefix + media.NewMediaID()
		if err := f.blobs.Put(ctx, k, bytes.NewReader([]byte("orphan")), 6); err != nil {
			t.Fatal(err)
		}
		return k
	}
	orphan := put()
	// The fs store's modification times are real: look two hours ahead
	// for the orphan.
	r.now = func() time.Time { return now.Add(2 * time.Hour) }
	if err := r.collect(ctx, r.now()); err != nil {
		t.Fatal(err)
	}
	r.now = func() time.Time { return now }
	if _, err := f.blobs.Stat(ctx, orphan); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("orphan blob not collected: %v", err)
	}
	for _, rec := range []media.Record{stuck, fresh} {
		if _, err := f.blobs.Stat(ctx, rec.BlobKey); err != nil {
			t.Fatalf("blob of a record collected: %v", err)
		}
	}
	recent := put()
	if err := r.collect(ctx, now); err != nil {
		t.Fatal(err)
	}
	if _, err := f.blobs.Stat(ctx, recent); err != nil {
		t.Fatalf("a blob within the grace period was collected: %v", err)
	}

	if err := r.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if jobs := f.published(q); len(jobs) != 1 || jobs[0].MediaID != stuck.ID || jobs[0].Revision != stuckRev {
		t.Fatalf("published %+v; want only the stuck record at revision %d", jobs, stuckRev)
	}
	if got, _, _ := f.cat.Get(ctx, expired.Origin, expired.ID); got.State != media.StateExpired {
		t.Fatalf("reservation past ExpiresAt is %s", got.State)
	}
	if got, _, _ := f.cat.Get(ctx, waiting.Origin, waiting.ID); got.State != media.StateReserved {
		t.Fatalf("live reservation is %s", got.State)
	}
	// The next pass leaves the republished record alone for StuckAfter.
	if err := r.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if jobs := f.published(q); len(jobs) != 1 {
		t.Fatalf("%d jobs; a stuck record is republished only once per StuckAfter", len(jobs))
	}
}

// TestReconcilerLease: only the lease holder works.
func TestReconcilerLease(t *testing.T) {
	f := newFixture(t, nil, nil, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stuck, _ := f.upload(testenv.Random(1 << 10))
	if _, _, err := f.cat.Modify(ctx, stuck.Origin, stuck.ID, func(rec *media.Record) error {
		rec.History[len(rec.History)-1].At = time.Now().Add(-time.Hour)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	other, err := f.cat.AcquireLease(ctx, "reconciler", "other", 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	q := f.newQueue(queue.Options{})
	r, err := NewReconciler(f.cat, f.blobs, q, ReconcilerOptions{Holder: "test-1", Interval: 100 * time.Millisecond, LeaseTTL: 2 * time.Second}, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	time.Sleep(500 * time.Millisecond)
	if len(f.published(q)) != 0 {
		t.Fatal("the reconciler worked without the lease")
	}
	if err := f.cat.ReleaseLease(ctx, other); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(f.published(q)) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := len(f.published(q)); n != 1 {
		t.Fatalf("%d jobs after the lease was free, want 1", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Run gave the lease up on its way out.
	if _, err := f.cat.AcquireLease(context.Background(), "reconciler", "third", 2*time.Second); err != nil {
		t.Fatalf("lease not released by Run: %v", err)
	}
}
