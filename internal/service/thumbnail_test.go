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

	"github.com/mediarepo/mediarepo/internal/sealed"
	"github.com/mediarepo/mediarepo/internal/testenv"
	"github.com/mediarepo/mediarepo/internal/thumbnail"
)

// goneDuringGeneration is the real sealed store; when the original is
// opened for a thumbnail it runs onOpen (the request goes away), and it
// counts the thumbnails stored.
type goneDuringGeneration struct {
	*sealed.Store
	onOpen func()
	puts   atomic.Int64
}

func (g *goneDuringGeneration) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if f := g.onOpen; f != nil {
		g.onOpen = nil
		f()
	}
	return g.Store.Get(ctx, key, offset, length)
}

func (g *goneDuringGeneration) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if len(key) > len(ThumbPrefix) && key[:len(ThumbPrefix)] == ThumbPrefix {
		g.puts.Add(1)
	}
	return g.Store.Put(ctx, key, r, size)
}

// TestThumbnailStopsWhenRequestGone: a thumbnail generation whose only
// request has gone stops instead of running on detached (a
// progressive-JPEG bomb used to keep the CPU busy long after the client
// left); a later request generates it afresh.
func TestThumbnailStopsWhenRequestGone(t *testing.T) {
	ctx := context.Background()
	cat, sealedStore := newTestStore(t)
	store := &goneDuringGeneration{Store: sealedStore}
	svc := New(store, cat, nil, Options{MaxUploadSize: 10 << 20, DevMarkClean: true, UnusedExpiresAfter: time.Hour, MaxPendingCreates: 10},
		slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	png := testenv.PNG(t, 640, 480)
	rec, err := svc.Upload(ctx, Upload{Origin: "example.org", Uploader: "@alice:example.org", DeclaredType: "image/png",
		Body: bytes.NewReader(png), ContentLength: int64(len(png))})
	if err != nil {
		t.Fatal(err)
	}
	thumbs := NewThumbnails(svc, store, thumbnail.Limits{}, 1, prometheus.NewRegistry())
	req := thumbnail.Request{Width: 32, Height: 32, Method: thumbnail.MethodCrop}

	rctx, cancel := context.WithCancel(ctx)
	store.onOpen = cancel // the client disconnects while its thumbnail is being made
	if _, err := thumbs.Get(rctx, rec.Origin, rec.ID, req, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get of a gone request: %v", err)
	}
	thumbs.sem <- struct{}{} // the generation has ended (concurrency 1)
	<-thumbs.sem
	if n := store.puts.Load(); n != 0 {
		t.Fatalf("the abandoned generation ran to its end and stored %d thumbnails", n)
	}
	th, err := thumbs.Get(ctx, rec.Origin, rec.ID, req, 0)
	if err != nil || th.Original || store.puts.Load() != 1 {
		t.Fatalf("a later request: %+v, %v, %d stored", th, err, store.puts.Load())
	}
}
