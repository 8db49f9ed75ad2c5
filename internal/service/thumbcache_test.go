package service

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/sealed"
	"github.com/mediarepo/mediarepo/internal/storage"
	"github.com/mediarepo/mediarepo/internal/testenv"
	"github.com/mediarepo/mediarepo/internal/thumbnail"
)

// countingStore is the real sealed store, counting thumbnail listings and
// reads.
type countingStore struct {
	*sealed.Store
	lists, gets atomic.Int64
}

func (c *countingStore) List(ctx context.Context, prefix string, fn func(storage.Info) error) error {
	c.lists.Add(1)
	return c.Store.List(ctx, prefix, fn)
}

func (c *countingStore) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if len(key) > len(ThumbPrefix) && key[:len(ThumbPrefix)] == ThumbPrefix {
		c.gets.Add(1)
	}
	return c.Store.Get(ctx, key, offset, length)
}

func readThumb(t *testing.T, thumbs *Thumbnails, th Thumb, off, n int64) []byte {
	t.Helper()
	rc, err := thumbs.Open(context.Background(), th, off, n)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestThumbnailCache: a thumbnail asked for again is served without
// listing or reading the store, byte for byte and by range; in a fresh
// process (an empty cache) one listing and one read fill it; quarantined
// media is refused although its thumbnail is remembered; a thumbnail
// blob deleted behind the cache's back is forgotten and made again.
func TestThumbnailCache(t *testing.T) {
	ctx := context.Background()
	cat, sealedStore := newTestStore(t)
	store := &countingStore{Store: sealedStore}
	newSvc := func() (*Service, *Thumbnails) {
		svc := New(store, cat, nil, Options{MaxUploadSize: 10 << 20, DevMarkClean: true, UnusedExpiresAfter: time.Hour, MaxPendingCreates: 10},
			slog.New(slog.DiscardHandler), prometheus.NewRegistry())
		return svc, NewThumbnails(svc, store, thumbnail.Limits{}, 1, prometheus.NewRegistry())
	}
	svc, thumbs := newSvc()
	png := testenv.PNG(t, 640, 480)
	rec, err := svc.Upload(ctx, Upload{Origin: "example.org", Uploader: "@alice:example.org", DeclaredType: "image/png",
		Body: bytes.NewReader(png), ContentLength: int64(len(png))})
	if err != nil {
		t.Fatal(err)
	}
	req := thumbnail.Request{Width: 96, Height: 96, Method: thumbnail.MethodCrop}
	first, err := thumbs.Get(ctx, rec.Origin, rec.ID, req, 0)
	if err != nil || first.Original || first.Size == 0 {
		t.Fatalf("first thumbnail: %+v, %v", first, err)
	}
	want := readThumb(t, thumbs, first, 0, first.Size)
	lists, gets := store.lists.Load(), store.gets.Load()
	for range 3 {
		th, err := thumbs.Get(ctx, rec.Origin, rec.ID, req, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := readThumb(t, thumbs, th, 0, th.Size); !bytes.Equal(got, want) {
			t.Fatalf("cached thumbnail differs: %d bytes, want %d", len(got), len(want))
		}
		if got := readThumb(t, thumbs, th, 10, 20); !bytes.Equal(got, want[10:30]) {
			t.Fatalf("range of the cached thumbnail differs")
		}
	}
	if store.lists.Load() != lists || store.gets.Load() != gets {
		t.Fatalf("cached thumbnails listed the store %d times and read it %d times", store.lists.Load()-lists, store.gets.Load()-gets)
	}

	// A fresh process: one listing finds it, one read fills the cache.
	_, thumbs = newSvc()
	lists, gets = store.lists.Load(), store.gets.Load()
	for range 3 {
		th, err := thumbs.Get(ctx, rec.Origin, rec.ID, req, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := readThumb(t, thumbs, th, 0, th.Size); !bytes.Equal(got, want) {
			t.Fatal("thumbnail read from the store differs")
		}
	}
	if l, g := store.lists.Load()-lists, store.gets.Load()-gets; l != 1 || g != 1 {
		t.Fatalf("a fresh cache listed %d times and read %d times, want 1 and 1", l, g)
	}

	// Quarantined: refused before the cache is looked at.
	if _, _, err := cat.Modify(ctx, rec.Origin, rec.ID, func(r *media.Record) error {
		next, err := r.Apply(media.Change{Transition: media.Quarantine, At: time.Now(), Actor: "@officer:example.org", Reason: "test"})
		*r = next
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := thumbs.Get(ctx, rec.Origin, rec.ID, req, 0); !errors.Is(err, media.ErrNotClean) {
		t.Fatalf("thumbnail of quarantined media: %v, want ErrNotClean", err)
	}
	if _, _, err := cat.Modify(ctx, rec.Origin, rec.ID, func(r *media.Record) error {
		next, err := r.Apply(media.Change{Transition: media.Release, At: time.Now(), Actor: "@officer:example.org", Reason: "test"})
		*r = next
		return err
	}); err != nil {
		t.Fatal(err)
	}

	// Deleted behind the cache's back (a fresh cache holds no bytes yet).
	_, thumbs = newSvc()
	th, err := thumbs.Get(ctx, rec.Origin, rec.ID, req, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Delete(ctx, th.Key); err != nil {
		t.Fatal(err)
	}
	if _, err := thumbs.Open(ctx, th, 0, th.Size); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("open of a deleted thumbnail: %v", err)
	}
	th, err = thumbs.Get(ctx, rec.Origin, rec.ID, req, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := readThumb(t, thumbs, th, 0, th.Size); !bytes.Equal(got, want) {
		t.Fatal("the thumbnail made again differs")
	}
}
