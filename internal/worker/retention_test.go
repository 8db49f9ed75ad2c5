package worker

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/queue"
	"github.com/mediarepo/mediarepo/internal/storage"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

// TestRemoteRetention: the reconciler drops clean cached remote media past
// its retention (record, blob reference, counted bytes) and keeps
// everything else.
func TestRemoteRetention(t *testing.T) {
	f := newFixture(t, nil, nil, Options{})
	ctx := context.Background()
	now := time.Now()
	// mark turns an uploaded record into cached remote media in state,
	// fetched at, and counts its bytes as the fetch does.
	mark := func(rec media.Record, remote bool, state media.State, at time.Time) media.Record {
		t.Helper()
		got, _, err := f.cat.Modify(ctx, rec.Origin, rec.ID, func(r *media.Record) error {
			r.Remote, r.State, r.UploadedAt = remote, state, at
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if remote {
			if _, err := f.cat.AddRemoteBytes(ctx, rec.Size, 0); err != nil {
				t.Fatal(err)
			}
		}
		return got
	}
	upload := func(data []byte) media.Record {
		rec, _ := f.upload(data)
		return rec
	}
	old := now.Add(-2 * time.Hour)
	own := mark(upload(testenv.Random(1000)), true, media.StateClean, old)
	sharedBytes := testenv.Random(2000)
	local := mark(upload(sharedBytes), false, media.StateClean, old)
	shared := mark(upload(sharedBytes), true, media.StateClean, old)
	quarantined := mark(upload(testenv.Random(3000)), true, media.StateQuarantined, old)
	fresh := mark(upload(testenv.Random(4000)), true, media.StateClean, now)
	pending := mark(upload(testenv.Random(5000)), true, media.StatePending, old)
	oldLocal := mark(upload(testenv.Random(6000)), false, media.StateClean, old)

	// Thumbnails of the dropped copy go with it (issue 14 item 24); those of
	// the bytes a local upload shares stay.
	thumbs := map[string]bool{}
	for sha, stays := range map[string]bool{own.SHA256: false, shared.SHA256: true} {
		key := media.ThumbnailSet(sha) + "96x96-crop.png"
		if err := f.blobs.Put(ctx, key, bytes.NewReader([]byte("t")), 1); err != nil {
			t.Fatal(err)
		}
		thumbs[key] = stays
	}

	q := f.newQueue(queue.Options{})
	r, err := NewReconciler(f.cat, f.blobs, q, ReconcilerOptions{Holder: "test-1", RemoteRetention: time.Hour, StuckAfter: 24 * time.Hour}, testLogger(t), f.reg)
	if err != nil {
		t.Fatal(err)
	}
	if r.opts.RetentionEvery != 6*time.Minute || r.opts.Interval != time.Minute {
		t.Errorf("retention every %s, interval %s; want 6m, 1m", r.opts.RetentionEvery, r.opts.Interval)
	}
	r.now = func() time.Time { return now }
	if err := r.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	for _, gone := range []media.Record{own, shared} {
		if _, _, err := f.cat.Get(ctx, gone.Origin, gone.ID); !errors.Is(err, media.ErrNotFound) {
			t.Errorf("%s past its retention: %v, want not found", gone.MXC(), err)
		}
	}
	for _, kept := range []media.Record{local, quarantined, fresh, pending, oldLocal} {
		if got, _, err := f.cat.Get(ctx, kept.Origin, kept.ID); err != nil || got.State != kept.State {
			t.Errorf("%s (remote %v, %s) not kept: %v", kept.MXC(), kept.Remote, kept.State, err)
		}
	}
	if _, err := f.blobs.Stat(ctx, own.BlobKey); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("the dropped copy's own blob is still stored: %v", err)
	}
	if _, _, err := f.cat.GetBlob(ctx, own.SHA256); !errors.Is(err, media.ErrNotFound) {
		t.Errorf("the dropped copy's blob record is still there: %v", err)
	}
	if _, err := f.blobs.Stat(ctx, local.BlobKey); err != nil {
		t.Errorf("the blob shared with a local upload was purged: %v", err)
	}
	for key, stays := range thumbs {
		if _, err := f.blobs.Stat(ctx, key); stays != (err == nil) {
			t.Errorf("thumbnail %s after the drop: %v (want kept: %v)", key, err, stays)
		}
	}
	if b, _, err := f.cat.GetBlob(ctx, local.SHA256); err != nil || b.RefCount != 1 {
		t.Errorf("shared blob after the drop: %+v, %v; want one reference", b, err)
	}
	want := quarantined.Size + fresh.Size + pending.Size
	if n, err := f.cat.RemoteBytes(ctx); err != nil || n != want {
		t.Errorf("remote bytes %d, %v; want %d", n, err, want)
	}
	if n := value(t, r.actions.WithLabelValues("remote_dropped")); n != 2 {
		t.Errorf("remote_dropped = %v, want 2", n)
	}
	// Within RetentionEvery nothing is walked again.
	stale := mark(upload(testenv.Random(700)), true, media.StateClean, old)
	r.now = func() time.Time { return now.Add(time.Minute) }
	if err := r.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.cat.Get(ctx, stale.Origin, stale.ID); err != nil {
		t.Fatalf("retention ran again before RetentionEvery: %v", err)
	}

	// The operator's full collection corrects a count that drifted (an officer's
	// delete of remote media, a crash between reservation and release).
	if _, err := f.cat.AddRemoteBytes(ctx, 12345, 0); err != nil {
		t.Fatal(err)
	}
	if err := r.collect(ctx, now); err != nil {
		t.Fatal(err)
	}
	want += stale.Size
	if n, err := f.cat.RemoteBytes(ctx); err != nil || n != want {
		t.Errorf("remote bytes after the correction %d, %v; want %d", n, err, want)
	}
}

// TestRetentionShortensInterval: a short retention is kept to.
func TestRetentionShortensInterval(t *testing.T) {
	for _, tc := range []struct {
		retention, every, interval time.Duration
	}{
		{0, 0, time.Minute},
		{2 * time.Second, time.Second, time.Second},
		{30 * time.Second, 3 * time.Second, 3 * time.Second},
		{30 * 24 * time.Hour, time.Hour, time.Minute},
	} {
		o := ReconcilerOptions{RemoteRetention: tc.retention}
		o.defaults()
		if o.RetentionEvery != tc.every || o.Interval != tc.interval {
			t.Errorf("retention %s: every %s, interval %s; want %s, %s", tc.retention, o.RetentionEvery, o.Interval, tc.every, tc.interval)
		}
	}
}
