package kv

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

func notPending(r media.Record) bool { return r.State != media.StatePending }

func TestWaitForWakesOnChange(t *testing.T) {
	ctx := t.Context()
	c := newTestKV(t, Options{RecheckInterval: time.Hour}) // only the watch can wake it
	origins := []string{"example.org", "matrix.example.org:8448", "[::1]:8448"}
	for _, o := range origins {
		if _, err := c.Create(ctx, pending(o, "m", "@alice:example.org", shaA)); err != nil {
			t.Fatal(err)
		}
	}
	const perKey = 20
	var wg sync.WaitGroup
	results := make(chan error, perKey*len(origins))
	for _, o := range origins {
		for range perKey {
			wg.Go(func() {
				wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				start := time.Now()
				rec, err := c.WaitFor(wctx, o, "m", notPending)
				switch {
				case err != nil:
					results <- fmt.Errorf("%s: %w", o, err)
				case rec.State != media.StateClean:
					results <- fmt.Errorf("%s: woke with state %s", o, rec.State)
				case time.Since(start) > 5*time.Second:
					results <- fmt.Errorf("%s: woke late", o)
				}
			})
		}
	}
	waitGauge(t, c, float64(perKey*len(origins)))
	for _, o := range origins {
		if _, _, err := catalog.Apply(ctx, c, o, "m", cleanVerdict()); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(results)
	for err := range results {
		t.Error(err)
	}
	if n := metricValue(t, c.metrics.watches); n != 1 {
		t.Fatalf("%v watches started for %d waiters, want 1", n, perKey*len(origins))
	}
	if n := metricValue(t, c.metrics.waiters); n != 0 {
		t.Fatalf("%v waiters left registered", n)
	}
}

// waitGauge waits until n waiters are registered (they are then watched).
func waitGauge(t *testing.T, c *Catalog, n float64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for metricValue(t, c.metrics.waiters) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%v waiters registered, want %v", metricValue(t, c.metrics.waiters), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWaitForTimeoutAndShortcuts(t *testing.T) {
	ctx := t.Context()
	c := newTestKV(t, Options{RecheckInterval: 50 * time.Millisecond})
	if _, err := c.Create(ctx, pending("example.org", "p", "@alice:example.org", shaA)); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.WaitFor(wctx, "example.org", "p", notPending)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitFor on pending: %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 3*time.Second {
		t.Fatalf("timed out after %s", d)
	}
	// A condition that already holds returns at once.
	rec, err := c.WaitFor(ctx, "example.org", "p", func(r media.Record) bool { return r.State == media.StatePending })
	if err != nil || rec.ID != "p" {
		t.Fatalf("WaitFor(already true) = %v, %v", rec.ID, err)
	}
	if _, err := c.WaitFor(ctx, "example.org", "none", notPending); !errors.Is(err, media.ErrNotFound) {
		t.Fatalf("WaitFor(missing) = %v", err)
	}
	if _, err := c.WaitFor(ctx, "example.org", "a/b", notPending); !errors.Is(err, media.ErrInvalidID) {
		t.Fatalf("WaitFor(bad id) = %v", err)
	}
	// The condition sees every newer revision, not only the state: a waiter
	// for "released" wakes after quarantine → release, not at quarantine.
	done := make(chan error, 1)
	go func() {
		rec, err := c.WaitFor(ctx, "example.org", "p", func(r media.Record) bool { return r.State == media.StateClean })
		if err == nil && len(rec.History) != 3 {
			err = fmt.Errorf("woke at %d events", len(rec.History))
		}
		done <- err
	}()
	waitGauge(t, c, 1)
	if _, _, err := catalog.Apply(ctx, c, "example.org", "p", media.Change{Transition: media.Quarantine, At: t0, Actor: officer}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := catalog.Apply(ctx, c, "example.org", "p", media.Change{Transition: media.Release, At: t0, Actor: officer, Reason: "false positive"}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waiter not woken by release")
	}
}

// TestWaitForAfterClose: a closed catalog's waiters still finish through
// their periodic re-read.
func TestWaitForAfterClose(t *testing.T) {
	ctx := t.Context()
	c := newTestKV(t, Options{RecheckInterval: 20 * time.Millisecond})
	if _, err := c.Create(ctx, pending("example.org", "p", "@alice:example.org", shaA)); err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	go func() {
		time.Sleep(100 * time.Millisecond)
		_, _, _ = catalog.Apply(ctx, c, "example.org", "p", cleanVerdict())
	}()
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if rec, err := c.WaitFor(wctx, "example.org", "p", notPending); err != nil || rec.State != media.StateClean {
		t.Fatalf("WaitFor after Close = %s, %v", rec.State, err)
	}
}
