package review

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/service"
	"github.com/mediarepo/mediarepo/internal/storage"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

var errStoreDown = errors.New("blob store unavailable")

// failingDeletes is the real sealed store whose deletes fail while fail
// is set: the blob store cannot be made to fail on cue.
type failingDeletes struct {
	Blobs
	fail atomic.Bool
}

func (s *failingDeletes) Delete(ctx context.Context, key string) error {
	if s.fail.Load() {
		return errStoreDown
	}
	return s.Blobs.Delete(ctx, key)
}

// putThumbnail stores a thumbnail of the content as the thumbnail flow
// caches it (sealed, under the hash's set).
func (f *fixture) putThumbnail(sha string) string {
	f.t.Helper()
	key := media.ThumbnailSet(sha) + "96x96-crop.png"
	if err := f.blobs.Put(context.Background(), key, bytes.NewReader([]byte("thumb")), 5); err != nil {
		f.t.Fatal(err)
	}
	return key
}

func (f *fixture) requireGone(keys ...string) {
	f.t.Helper()
	for _, k := range keys {
		if _, err := f.blobs.Stat(context.Background(), k); !errors.Is(err, storage.ErrNotFound) {
			f.t.Fatalf("%s: %v; want it purged", k, err)
		}
	}
}

func (f *fixture) requireKept(keys ...string) {
	f.t.Helper()
	for _, k := range keys {
		if _, err := f.blobs.Stat(context.Background(), k); err != nil {
			f.t.Fatalf("%s: %v; want it kept", k, err)
		}
	}
}

// TestFailedPurgeRetried: a delete whose purge fails is marked; repeating
// the delete purges the blob (and the hash's thumbnails) at last.
func TestFailedPurgeRetried(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	store := &failingDeletes{Blobs: f.blobs}
	rv, err := New(f.cat, store, nil, f.audit, Options{MediaPrefix: service.MediaPrefix, QuarantinePrefix: service.QuarantinePrefix},
		slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := f.upload("@alice:"+origin, testenv.Random(2000))
	thumb := f.putThumbnail(rec.SHA256)
	q := Request{Actor: "@officer:" + origin, Reason: "illegal content"}

	store.fail.Store(true)
	if _, err := rv.Delete(ctx, q, origin, rec.ID); !errors.Is(err, errStoreDown) {
		t.Fatalf("delete while the store fails: %v", err)
	}
	if got := f.get(rec.ID); got.State != media.StateDeleted {
		t.Fatalf("record %s, want the tombstone", got.State)
	}
	f.requireKept(rec.BlobKey)

	store.fail.Store(false)
	if _, err := rv.Delete(ctx, q, origin, rec.ID); err != nil {
		t.Fatalf("repeated delete: %v", err)
	}
	f.requireGone(rec.BlobKey, thumb)
}

// TestThumbnailsGoWithLastReference: the thumbnails of a hash are purged
// with its last reference (delete, erasure), not before.
func TestThumbnailsGoWithLastReference(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	data := testenv.Random(3000)
	a := f.upload("@alice:"+origin, data)
	b := f.upload("@bob:"+origin, data)
	thumb := f.putThumbnail(a.SHA256)
	q := Request{Actor: "@officer:" + origin, Reason: "erasure request"}

	if _, err := f.rv.Delete(ctx, q, origin, a.ID); err != nil {
		t.Fatal(err)
	}
	f.requireKept(b.BlobKey, thumb) // bob's copy still uses the hash

	if _, err := f.rv.EraseUploader(ctx, q, "@bob:"+origin); err != nil {
		t.Fatal(err)
	}
	f.requireGone(b.BlobKey, thumb)
}
