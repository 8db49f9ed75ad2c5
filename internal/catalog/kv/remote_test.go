package kv

import (
	"errors"
	"sync"
	"testing"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
)

// TestDelete: a compare-and-set delete of a record; the key can be created
// afresh, and the record's index entries go (or are never returned).
func TestDelete(t *testing.T) {
	ctx := t.Context()
	c := newTestKV(t, Options{IndexGrace: 1}) // entries are old at once
	rec := pending("remote.example", "cached", "", shaA)
	rec.Remote = true
	rev, err := c.Create(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	next, rev2, err := catalog.Apply(ctx, c, "remote.example", "cached", cleanVerdict())
	if err != nil || next.State != media.StateClean {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "remote.example", "cached", rev); !errors.Is(err, media.ErrConflict) {
		t.Fatalf("Delete at a stale revision: %v, want ErrConflict", err)
	}
	if _, _, err := c.Get(ctx, "remote.example", "cached"); err != nil {
		t.Fatalf("the record went after a lost delete: %v", err)
	}
	if err := c.Delete(ctx, "remote.example", "cached", rev2); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Get(ctx, "remote.example", "cached"); !errors.Is(err, media.ErrNotFound) {
		t.Fatalf("Get after Delete: %v, want ErrNotFound", err)
	}
	if err := c.Delete(ctx, "remote.example", "cached", rev2); !errors.Is(err, media.ErrNotFound) {
		t.Fatalf("second Delete: %v, want ErrNotFound", err)
	}
	if _, err := c.index.Get(ctx, indexKey(idxHash, shaA, "remote.example", "cached")); err == nil {
		t.Error("the hash entry of the deleted record is still there")
	}
	if got, err := c.ByHash(ctx, shaA); err != nil || len(got) != 0 {
		t.Fatalf("ByHash after Delete = %v, %v", ids(got), err)
	}
	// Fetched again: the key is free, the new record is found by its hash.
	if _, err := c.Create(ctx, rec); err != nil {
		t.Fatalf("Create after Delete: %v", err)
	}
	if got, err := c.ByHash(ctx, shaA); err != nil || len(got) != 1 || got[0].Record.State != media.StatePending {
		t.Fatalf("ByHash after re-create = %v, %v", ids(got), err)
	}
	var seen int
	if err := c.Walk(ctx, func(catalog.Entry) error { seen++; return nil }); err != nil || seen != 1 {
		t.Fatalf("Walk saw %d records, %v", seen, err)
	}
}

// TestDeleteKeepsYoungEntries: entries younger than IndexGrace stay (a
// create of the same key may have just written them) and are ignored on
// read while the record is missing.
func TestDeleteKeepsYoungEntries(t *testing.T) {
	ctx := t.Context()
	c := newTestKV(t, Options{}) // IndexGrace 1m
	rev, err := c.Create(ctx, pending("remote.example", "young", "@u:example.org", shaB))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "remote.example", "young", rev); err != nil {
		t.Fatal(err)
	}
	if _, err := c.index.Get(ctx, indexKey(idxHash, shaB, "remote.example", "young")); err != nil {
		t.Fatalf("a young entry was pruned: %v", err)
	}
	if got, err := c.ByHash(ctx, shaB); err != nil || len(got) != 0 {
		t.Fatalf("ByHash returned a deleted record: %v, %v", ids(got), err)
	}
}

// TestRemoteBytesCounter: concurrent adds lose nothing, the limit refuses
// and adds nothing, the total never goes below zero.
func TestRemoteBytesCounter(t *testing.T) {
	ctx := t.Context()
	c := newTestKV(t, Options{ModifyAttempts: 1000})
	if n, err := c.RemoteBytes(ctx); err != nil || n != 0 {
		t.Fatalf("fresh counter = %d, %v", n, err)
	}
	const workers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for range workers {
		wg.Go(func() {
			for range each {
				if _, err := c.AddRemoteBytes(ctx, 3, 0); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	want := int64(3 * workers * each)
	if n, err := c.RemoteBytes(ctx); err != nil || n != want {
		t.Fatalf("after %d concurrent adds: %d, %v; want %d", workers*each, n, err, want)
	}
	t.Logf("CAS conflicts: %v", metricValue(t, c.metrics.conflicts.WithLabelValues("counter")))

	if _, err := c.AddRemoteBytes(ctx, 11, want+10); !errors.Is(err, catalog.ErrQuotaExceeded) {
		t.Fatalf("add over the limit: %v, want catalog.ErrQuotaExceeded", err)
	}
	if n, _ := c.RemoteBytes(ctx); n != want {
		t.Fatalf("a refused add changed the total to %d", n)
	}
	if n, err := c.AddRemoteBytes(ctx, 10, want+10); err != nil || n != want+10 {
		t.Fatalf("add up to the limit: %d, %v", n, err)
	}
	if n, err := c.AddRemoteBytes(ctx, -5, want); err != nil || n != want+5 {
		t.Fatalf("a release over the limit is never refused: %d, %v", n, err)
	}
	if n, err := c.AddRemoteBytes(ctx, -10*want, 0); err != nil || n != 0 {
		t.Fatalf("release below zero: %d, %v; want 0", n, err)
	}
}

// TestRemoteBytesLimitUnderConcurrency: racing reservations never pass the
// limit together.
func TestRemoteBytesLimitUnderConcurrency(t *testing.T) {
	ctx := t.Context()
	c := newTestKV(t, Options{ModifyAttempts: 1000})
	const limit, size, workers = 50, 7, 16
	var wg sync.WaitGroup
	var mu sync.Mutex
	granted := 0
	for range workers {
		wg.Go(func() {
			_, err := c.AddRemoteBytes(ctx, size, limit)
			switch {
			case err == nil:
				mu.Lock()
				granted++
				mu.Unlock()
			case !errors.Is(err, catalog.ErrQuotaExceeded):
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if granted != limit/size {
		t.Fatalf("%d reservations of %d granted under a limit of %d, want %d", granted, size, limit, limit/size)
	}
	if n, _ := c.RemoteBytes(ctx); n != int64(granted*size) {
		t.Fatalf("total %d, want %d", n, granted*size)
	}
}

// TestReleaseBlob: references go one by one, the last one returns the key
// to purge and removes the blob record; a private copy is returned as is;
// a blocked hash keeps its record.
func TestReleaseBlob(t *testing.T) {
	ctx := t.Context()
	c := newTestKV(t, Options{})
	b := media.NewBlob(shaA, "media/shared", 3, t0)
	b.RefCount = 2
	if _, err := c.CreateBlob(ctx, b); err != nil {
		t.Fatal(err)
	}
	if key, err := catalog.ReleaseBlob(ctx, c, shaA, "media/private", t0); err != nil || key != "media/private" {
		t.Fatalf("private copy: %q, %v", key, err)
	}
	if got, _, _ := c.GetBlob(ctx, shaA); got.RefCount != 2 {
		t.Fatalf("a private copy dropped a shared reference: %d", got.RefCount)
	}
	if key, err := catalog.ReleaseBlob(ctx, c, shaA, "media/shared", t0); err != nil || key != "" {
		t.Fatalf("first of two: %q, %v", key, err)
	}
	if key, err := catalog.ReleaseBlob(ctx, c, shaA, "media/shared", t0); err != nil || key != "media/shared" {
		t.Fatalf("last: %q, %v", key, err)
	}
	if _, _, err := c.GetBlob(ctx, shaA); !errors.Is(err, media.ErrNotFound) {
		t.Fatalf("blob record after its last reference: %v", err)
	}
	if key, err := catalog.ReleaseBlob(ctx, c, shaA, "media/shared", t0); err != nil || key != "" {
		t.Fatalf("no blob record: %q, %v", key, err)
	}

	blocked := media.NewBlob(shaB, "media/b", 3, t0).Block("infected", t0)
	if _, err := c.CreateBlob(ctx, blocked); err != nil {
		t.Fatal(err)
	}
	if key, err := catalog.ReleaseBlob(ctx, c, shaB, "media/b", t0); err != nil || key != "media/b" {
		t.Fatalf("blocked, last: %q, %v", key, err)
	}
	if got, _, err := c.GetBlob(ctx, shaB); err != nil || !got.Blocked || got.RefCount != 0 {
		t.Fatalf("a blocked hash lost its record: %+v, %v", got, err)
	}
}
