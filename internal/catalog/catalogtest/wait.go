package catalogtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
)

func decided(r media.Record) bool { return r.State != media.StatePending }

func testWaitFor(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	rec := pending("example.org", "w", alice, shaA)
	mustCreate(t, c, rec)
	// At once when the condition holds.
	if got, err := c.WaitFor(ctx, "example.org", "w", func(media.Record) bool { return true }); err != nil || got.ID != "w" {
		t.Fatalf("WaitFor a holding condition = %+v, %v", got, err)
	}
	// Until the deadline when nothing changes.
	short, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
	_, err := c.WaitFor(short, "example.org", "w", decided)
	cancel()
	wantErr(t, "WaitFor without a change", err, context.DeadlineExceeded)
	_, err = c.WaitFor(ctx, "example.org", "missing", decided)
	wantErr(t, "WaitFor a missing record", err, media.ErrNotFound)
	// Woken by the verdict, well before the backends' periodic re-read.
	done := make(chan error, 1)
	go func() {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		got, err := c.WaitFor(wctx, "example.org", "w", decided)
		if err == nil && got.State != media.StateClean {
			err = fmt.Errorf("woken with state %s", got.State)
		}
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	mustApply(t, c, rec, verdict(media.VerdictClean, t0.Add(time.Second)))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// A record deleted while waited for ends the wait with not-found.
	other := pending("example.org", "gone", alice, shaA)
	rev := mustCreate(t, c, other)
	go func() {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := c.WaitFor(wctx, "example.org", "gone", decided)
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	if err := c.Delete(ctx, "example.org", "gone", rev); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "WaitFor a deleted record", <-done, media.ErrNotFound)
}

// testWaitForMany: many waiters on several records, each woken by its own
// record's change only.
func testWaitForMany(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	const records, perRecord = 5, 8
	for i := range records {
		mustCreate(t, c, pending("example.org", fmt.Sprintf("m%d", i), alice, sha(i)))
	}
	var wg sync.WaitGroup
	errs := make(chan error, records*perRecord)
	for i := range records {
		for range perRecord {
			wg.Go(func() {
				limit := 5 * time.Second
				if i == records-1 {
					limit = 1500 * time.Millisecond
				}
				wctx, cancel := context.WithTimeout(ctx, limit)
				defer cancel()
				id := fmt.Sprintf("m%d", i)
				_, err := c.WaitFor(wctx, "example.org", id, decided)
				if i == records-1 { // the one record never decided
					if !errors.Is(err, context.DeadlineExceeded) {
						err = fmt.Errorf("waiting for the undecided %s: %v, want the deadline", id, err)
					} else {
						err = nil
					}
				}
				errs <- err
			})
		}
	}
	time.Sleep(300 * time.Millisecond)
	for i := range records - 1 {
		rec, _, _ := c.Get(ctx, "example.org", fmt.Sprintf("m%d", i))
		mustApply(t, c, rec, verdict(media.VerdictClean, t0.Add(time.Second)))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}
