package worker

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/queue"
	"github.com/mediarepo/mediarepo/internal/storage"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

// published records the jobs the reconciler publishes.
// TODO: publish through internal/queue once it exists, and check the
// stream.
type published struct {
	mu   sync.Mutex
	jobs []queue.Job
}

func (p *published) Enqueue(_ context.Context, rec media.Record, rev uint64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.jobs = append(p.jobs, queue.JobFor(rec, rev, "reconcile", time.Now()))
	return nil
}

func (p *published) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.jobs)
}

func TestReconcilerPass(t *testing.T) {
	f := newFixture(t, nil, nil, Options{})
	ctx := context.Background()
	jobs := &published{}
	r, err := NewReconciler(f.cat, f.blobs, jobs, ReconcilerOptions{Holder: "test-1", StuckAfter: time.Minute, GCGrace: time.Hour}, testLogger(t), f.reg)
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
	if len(jobs.jobs) != 1 || jobs.jobs[0].MediaID != stuck.ID || jobs.jobs[0].Revision != stuckRev {
		t.Fatalf("published %+v; want only the stuck record at revision %d", jobs.jobs, stuckRev)
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
	if jobs.count() != 1 {
		t.Fatalf("%d publishes; a stuck record is republished only once per StuckAfter", jobs.count())
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
	jobs := &published{}
	r, err := NewReconciler(f.cat, f.blobs, jobs, ReconcilerOptions{Holder: "test-1", Interval: 100 * time.Millisecond, LeaseTTL: 2 * time.Second}, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	time.Sleep(500 * time.Millisecond)
	if jobs.count() != 0 {
		t.Fatal("the reconciler worked without the lease")
	}
	if err := f.cat.ReleaseLease(ctx, other); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for jobs.count() == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if jobs.count() != 1 {
		t.Fatalf("%d publishes after the lease was free, want 1", jobs.count())
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
