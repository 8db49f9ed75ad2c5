package worker

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/queue"
	"github.com/mediarepo/mediarepo/internal/storage"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

var errStoreDown = errors.New("blob store unavailable")

// deletesFail is the real store whose deletes fail (the store cannot be
// made to fail on cue).
type deletesFail struct{ BlobLister }

func (deletesFail) Delete(context.Context, string) error { return errStoreDown }

// TestCollectorRetriesPurges: a purge that failed (a deleted record's
// blob and its hash's thumbnails) stays marked and the reconciler carries
// it out; a thumbnail left by a generation that died on the way is
// deleted when its hash has no referenced record and kept when it has
// one: thumbnail sets without a record are found from the intents, never
// by listing the thumbnails.
func TestCollectorRetriesPurges(t *testing.T) {
	f := newFixture(t, nil, nil, Options{})
	ctx := context.Background()
	put := func(key string) {
		t.Helper()
		if err := f.blobs.Put(ctx, key, bytes.NewReader([]byte("x")), 1); err != nil {
			t.Fatal(err)
		}
	}
	stat := func(key string) error {
		_, err := f.blobs.Stat(ctx, key)
		return err
	}
	now := time.Now()

	// A deleted record's content whose purge failed.
	gone := sum(testenv.Random(100))
	blobKey := DefaultMediaPrefix + media.NewMediaID()
	thumb := media.ThumbnailSet(gone) + "32x32-crop.png"
	put(blobKey)
	put(thumb)
	err := catalog.Purge(ctx, f.cat, deletesFail{f.blobs}, gone, []string{blobKey, media.ThumbnailSet(gone)}, now)
	if !errors.Is(err, errStoreDown) {
		t.Fatalf("purge with a failing store: %v", err)
	}

	// Thumbnails of generations that died after storing them: one of a
	// hash without a record, one of a hash in use.
	orphan := media.ThumbnailSet(sum(testenv.Random(100))) + "96x96-crop.png"
	used, _ := f.upload(testenv.Random(200))
	kept := media.ThumbnailSet(used.SHA256) + "96x96-crop.png"
	for _, k := range []string{orphan, kept} {
		put(k)
		if err := f.cat.PutIntent(ctx, catalog.Intent{BlobKey: k, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}

	r, err := NewReconciler(f.cat, f.blobs, f.newQueue(queue.Options{}), ReconcilerOptions{Holder: "test-1", GCGrace: time.Hour}, testLogger(t), f.reg)
	if err != nil {
		t.Fatal(err)
	}
	r.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if err := r.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{blobKey, thumb, orphan} {
		if err := stat(k); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("%s: %v; want it purged", k, err)
		}
	}
	if err := stat(kept); err != nil {
		t.Errorf("thumbnail of content in use: %v; want it kept", err)
	}
	var left []catalog.Intent
	if err := f.cat.ListIntents(ctx, time.Time{}, func(in catalog.Intent) error { left = append(left, in); return nil }); err != nil || len(left) != 0 {
		t.Fatalf("intents after the pass: %+v, %v", left, err)
	}
}
