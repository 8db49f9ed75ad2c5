package worker

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/queue"
	"github.com/mediarepo/mediarepo/internal/service"
	"github.com/mediarepo/mediarepo/internal/storage"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

func (f *fixture) service(cat service.Catalog, q *queue.Queue) *service.Service {
	return service.New(f.blobs, cat, q, service.Options{MaxUploadSize: 10 << 20, UnusedExpiresAfter: time.Hour, MaxPendingCreates: 10},
		testLogger(f.t), prometheus.NewRegistry())
}

// TestCrashBetweenAttachAndCreate is issue 14 item 6: an upload that dies
// between its per-hash record and its media record left a blob record
// whose blob the collector deleted; every later upload of the same bytes
// then shared the missing blob and ended blocked, for good. Now the
// collector settles the crashed upload from its intent (reference given
// up, blob and per-hash record gone together), and a later upload of the
// same bytes is stored afresh, scanned clean and served.
func TestCrashBetweenAttachAndCreate(t *testing.T) {
	f := newFixture(t, nil, nil, Options{})
	ctx := context.Background()
	q := f.newQueue(queue.Options{})
	data := testenv.Random(4000)
	sha := sum(data)

	// What an upload that died between its per-hash record and its media
	// record leaves (with PostgreSQL one transaction makes this state
	// impossible; with KV the reference is taken before the record): the
	// stored blob, its intent with the hash, and the per-hash record
	// naming the blob with the upload's reference; no media record.
	key := media.BlobPrefix + media.NewMediaID()
	if err := f.blobs.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	if err := f.cat.PutIntent(ctx, catalog.Intent{BlobKey: key, Origin: origin, ID: media.NewMediaID(), SHA256: sha, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.cat.CreateBlob(ctx, media.NewBlob(sha, key, int64(len(data)), time.Now())); err != nil {
		t.Fatal(err)
	}
	up := service.Upload{Origin: origin, Uploader: "@alice:" + origin, DeclaredType: "application/octet-stream", ContentLength: int64(len(data))}
	left := f.blob(sha)

	r, err := NewReconciler(f.cat, f.blobs, q, ReconcilerOptions{Holder: "test-1", GCGrace: time.Hour}, testLogger(t), f.reg)
	if err != nil {
		t.Fatal(err)
	}
	// Within the grace period the upload may still be running.
	if err := r.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.blobs.Stat(ctx, left.BlobKey); err != nil {
		t.Fatalf("blob collected within the grace period: %v", err)
	}
	// Two hours later (the fs store's times are real: look ahead).
	r.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if err := r.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.blobs.Stat(ctx, left.BlobKey); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the crashed upload's blob: %v, want collected", err)
	}
	if _, _, err := f.cat.GetBlob(ctx, sha); !errors.Is(err, media.ErrNotFound) {
		t.Fatalf("the crashed upload's per-hash record: %v, want gone with its blob", err)
	}
	var intents []catalog.Intent
	if err := f.cat.ListIntents(ctx, time.Time{}, func(in catalog.Intent) error { intents = append(intents, in); return nil }); err != nil || len(intents) != 0 {
		t.Fatalf("intents after the collection: %+v, %v", intents, err)
	}

	// The same bytes again, in a healthy process: stored, scanned, served.
	up.Body = bytes.NewReader(data)
	rec, err := f.service(f.cat, q).Upload(ctx, up)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.blobs.Stat(ctx, rec.BlobKey); err != nil {
		t.Fatalf("the new upload's blob %s: %v", rec.BlobKey, err)
	}
	_, rev, err := f.cat.Get(ctx, rec.Origin, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	f.requireAcked(f.handle(rec, rev, 1))
	if got := f.get(rec); got.State != media.StateClean {
		t.Fatalf("the same bytes uploaded after the crash ended %s (%+v), want clean", got.State, got.Verdict)
	}
	body, err := f.blobs.Get(ctx, rec.BlobKey, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	if got, err := io.ReadAll(body); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("served bytes differ: %v", err)
	}
}

// TestSharedBlobMissing: a per-hash record that names a missing blob
// (left by the bug above before this fix) is taken over by the next upload
// of those bytes instead of being shared.
func TestSharedBlobMissing(t *testing.T) {
	f := newFixture(t, nil, nil, Options{})
	ctx := context.Background()
	q := f.newQueue(queue.Options{})
	data := testenv.Random(3000)
	sha := sum(data)
	if _, err := f.cat.CreateBlob(ctx, media.NewBlob(sha, "media/lost", int64(len(data)), time.Now())); err != nil {
		t.Fatal(err)
	}
	up := service.Upload{Origin: origin, Uploader: "@alice:" + origin, DeclaredType: "application/octet-stream", ContentLength: int64(len(data)), Body: bytes.NewReader(data)}
	rec, err := f.service(f.cat, q).Upload(ctx, up)
	if err != nil {
		t.Fatal(err)
	}
	if rec.BlobKey == "media/lost" {
		t.Fatal("the upload shares a missing blob")
	}
	if b := f.blob(sha); b.BlobKey != rec.BlobKey || b.RefCount != 1 {
		t.Fatalf("per-hash record %+v; want it to name the new blob %s with one reference", b, rec.BlobKey)
	}
}

// TestIntentCollector: intents within the grace period are left alone; a
// finished upload whose intent's removal was lost keeps its blob; a blob
// of an upload that died before its hash was known is deleted.
func TestIntentCollector(t *testing.T) {
	f := newFixture(t, nil, nil, Options{})
	ctx := context.Background()
	q := f.newQueue(queue.Options{})
	r, err := NewReconciler(f.cat, f.blobs, q, ReconcilerOptions{Holder: "test-1", GCGrace: time.Hour}, testLogger(t), f.reg)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	put := func(key string) {
		if err := f.blobs.Put(ctx, key, bytes.NewReader([]byte("partial")), 7); err != nil {
			t.Fatal(err)
		}
	}
	done, _ := f.upload(testenv.Random(500))
	early := catalog.Intent{BlobKey: "media/early", Origin: origin, ID: "early", CreatedAt: now.Add(-2 * time.Hour)}
	young := catalog.Intent{BlobKey: "media/young", Origin: origin, ID: "young", CreatedAt: now}
	finished := catalog.Intent{BlobKey: done.BlobKey, Origin: origin, ID: done.ID, SHA256: done.SHA256, CreatedAt: now.Add(-2 * time.Hour)}
	put(early.BlobKey)
	put(young.BlobKey)
	for _, in := range []catalog.Intent{early, young, finished} {
		if err := f.cat.PutIntent(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	r.now = func() time.Time { return now }
	if err := r.collectIntents(ctx, now); err != nil {
		t.Fatal(err)
	}
	if _, err := f.blobs.Stat(ctx, early.BlobKey); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("blob of an upload that died before its hash: %v, want collected", err)
	}
	if _, err := f.blobs.Stat(ctx, young.BlobKey); err != nil {
		t.Errorf("blob of an upload within the grace period: %v", err)
	}
	if _, err := f.blobs.Stat(ctx, done.BlobKey); err != nil {
		t.Errorf("blob of a finished upload: %v", err)
	}
	if b := f.blob(done.SHA256); b.RefCount != 1 {
		t.Errorf("finished upload's per-hash record %+v; want its one reference kept", b)
	}
	var left []string
	if err := f.cat.ListIntents(ctx, time.Time{}, func(in catalog.Intent) error { left = append(left, in.BlobKey); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left[0] != young.BlobKey {
		t.Errorf("intents left %v, want only the young one", left)
	}
}
