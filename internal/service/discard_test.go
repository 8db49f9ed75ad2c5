package service

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/catalog/kv"
	"github.com/mediarepo/mediarepo/internal/storage"
	"github.com/mediarepo/mediarepo/internal/storage/fs"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

// lostAnswer stores the object, then fails the put, as an S3 PUT does when
// the request is cancelled after the server stored the object; with
// failDelete it also refuses deletes. (No real store fails on cue.)
type lostAnswer struct {
	*fs.Store
	failDelete bool
}

func (l *lostAnswer) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := l.Store.Put(ctx, key, r, size); err != nil {
		return err
	}
	return errors.New("connection reset after the object was stored")
}

func (l *lostAnswer) Delete(ctx context.Context, key string) error {
	if l.failDelete {
		return errors.New("store unavailable")
	}
	return l.Store.Delete(ctx, key)
}

// A failed upload leaves neither a blob nor, once its blob is gone, an
// intent; when the blob cannot be deleted the intent stays for the
// collector. Before, the intent went in any case and the blob stayed
// behind, named by nothing (found by the fault test, internal/faults).
func TestFailedUploadLeavesNoOrphan(t *testing.T) {
	ctx := t.Context()
	cat, err := kv.New(ctx, testenv.JetStream(t), kv.Options{}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cat.Close() })
	for _, failDelete := range []bool{false, true} {
		root, err := fs.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		store := &lostAnswer{Store: root, failDelete: failDelete}
		s := New(store, cat, nil, Options{MaxUploadSize: 1 << 20, DevMarkClean: true}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
		_, err = s.Upload(ctx, Upload{Origin: "example.org", Uploader: "@a:example.org", DeclaredType: "text/plain",
			Body: strings.NewReader("hello " + time.Now().String()), ContentLength: -1})
		if err == nil {
			t.Fatal("the upload succeeded although its put failed")
		}
		var blobs []string
		if err := root.List(ctx, MediaPrefix, func(i storage.Info) error { blobs = append(blobs, i.Key); return nil }); err != nil {
			t.Fatal(err)
		}
		var intents []string
		if err := cat.ListIntents(ctx, time.Time{}, func(in catalog.Intent) error { intents = append(intents, in.BlobKey); return nil }); err != nil {
			t.Fatal(err)
		}
		t.Logf("failDelete %v: blobs %v intents %v", failDelete, blobs, intents)
		switch {
		case !failDelete && (len(blobs) != 0 || len(intents) != 0):
			t.Errorf("after a failed put: blobs %v, intents %v; want none", blobs, intents)
		case failDelete && (len(blobs) != 1 || len(intents) != 1 || intents[0] != blobs[0]):
			t.Errorf("a blob that could not be deleted: blobs %v, intents %v; want its intent kept", blobs, intents)
		}
		for _, k := range intents {
			_ = cat.DeleteIntent(ctx, k)
		}
	}
}
