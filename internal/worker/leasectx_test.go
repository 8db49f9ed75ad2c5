package worker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/queue"
)

// A process paused past its lease (SIGSTOP, a frozen VM) must notice that
// it lost the lease before its next write: the pass's context ends at the
// lease's local expiry, whatever a renewal would say later.
func TestLeaseContextEndsAtExpiry(t *testing.T) {
	ctx := newLeaseContext(context.Background(), time.Now().Add(50*time.Millisecond))
	defer ctx.stop()
	if err := ctx.Err(); err != nil {
		t.Fatalf("Err before the expiry: %v", err)
	}
	ctx.extend(time.Now().Add(150 * time.Millisecond))
	time.Sleep(80 * time.Millisecond)
	if err := ctx.Err(); err != nil {
		t.Fatalf("Err after a renewal moved the expiry: %v", err)
	}
	time.Sleep(100 * time.Millisecond)
	err := ctx.Err()
	if !errors.Is(err, catalog.ErrLeaseLost) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Err past the expiry = %v, want ErrLeaseLost and DeadlineExceeded", err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(time.Second):
		t.Fatal("Done not closed past the expiry")
	}
	ctx.extend(time.Now().Add(time.Hour)) // a late renewal cannot revive it
	if ctx.Err() == nil {
		t.Fatal("a renewal revived an expired lease context")
	}
}

// The clock decides, not the timer: Err is non-nil from the first instant
// past the expiry even when the timer has not fired yet (as after SIGCONT,
// when the resumed goroutine may run before the timer's).
func TestLeaseContextErrChecksTheClock(t *testing.T) {
	c := newLeaseContext(context.Background(), time.Now().Add(time.Hour))
	defer c.stop()
	c.mu.Lock()
	c.expires = time.Now().Add(-time.Millisecond) // as if paused past it; the timer still waits an hour
	c.mu.Unlock()
	if err := c.Err(); !errors.Is(err, catalog.ErrLeaseLost) {
		t.Fatalf("Err = %v, want ErrLeaseLost", err)
	}
}

// A reconciler pass under an expired lease writes nothing: the expired
// reservation stays reserved.
func TestReconcilerWritesNothingPastItsLease(t *testing.T) {
	f := newFixture(t, nil, nil, Options{})
	q := f.newQueue(queue.Options{})
	r, err := NewReconciler(f.cat, f.blobs, q, ReconcilerOptions{Holder: "paused-1"}, testLogger(t), f.reg)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	rec := media.NewReserved(origin, media.NewMediaID(), "@alice:"+origin, now.Add(-2*time.Hour), now.Add(-time.Second))
	if _, err := f.cat.Create(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	lctx := newLeaseContext(context.Background(), time.Now().Add(time.Hour))
	defer lctx.stop()
	lctx.mu.Lock()
	lctx.expires = time.Now().Add(-time.Millisecond) // paused past the expiry, timer not yet fired
	lctx.mu.Unlock()
	if err := r.Pass(lctx); !errors.Is(err, catalog.ErrLeaseLost) {
		t.Fatalf("Pass = %v, want ErrLeaseLost", err)
	}
	if got := f.get(rec); got.State != media.StateReserved {
		t.Fatalf("the paused reconciler wrote: record is %s", got.State)
	}
	// With a live lease the same pass expires it.
	live := newLeaseContext(context.Background(), time.Now().Add(time.Minute))
	defer live.stop()
	if err := r.Pass(live); err != nil {
		t.Fatal(err)
	}
	if got := f.get(rec); got.State != media.StateExpired {
		t.Fatalf("record is %s after a pass under a live lease, want expired", got.State)
	}
}
