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
// failDelete it also refuses deletes; with late, the object appears only
// after the put failed (S3 finishing a PUT whose client gave up, after the
// client's delete). (No real store fails on cue.)
type lostAnswer struct {
	*fs.Store
	failDelete bool
	late       chan struct{} // closed once the late object is stored
}

func (l *lostAnswer) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if l.late != nil {
		body, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		go func() {
			defer close(l.late)
			time.Sleep(200 * time.Millisecond)
			_ = l.Store.Put(context.Background(), key, strings.NewReader(string(body)), int64(len(body)))
		}()
		return context.Canceled
	}
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

// A failed put leaves no blob that nothing names: the blob is deleted and
// its intent stays for the collector, which deletes the blob again after
// the grace period — the store may still finish a put it was told to
// abandon, after that delete (the fault test found such orphans when the
// end of its load cancelled uploads). When the blob cannot be deleted the
// intent stays too. Before, the intent went in any case (first fault-test
// fix) and then once the blob was deleted (second); a put that failed
// for its body drops both (TestUploadBodyCut in httpapi).
func TestFailedUploadLeavesNoOrphan(t *testing.T) {
	ctx := t.Context()
	cat, err := kv.New(ctx, testenv.JetStream(t), kv.Options{}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cat.Close() })
	for _, tc := range []struct {
		failDelete, late bool
		blobs            int
	}{{false, false, 0}, {true, false, 1}, {false, true, 1}} {
		failDelete := tc.failDelete
		root, err := fs.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		store := &lostAnswer{Store: root, failDelete: failDelete}
		if tc.late {
			store.late = make(chan struct{})
		}
		s := New(store, cat, nil, Options{MaxUploadSize: 1 << 20, DevMarkClean: true}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
		_, err = s.Upload(ctx, Upload{Origin: "example.org", Uploader: "@a:example.org", DeclaredType: "text/plain",
			Body: strings.NewReader("hello " + time.Now().String()), ContentLength: -1})
		if err == nil {
			t.Fatal("the upload succeeded although its put failed")
		}
		if store.late != nil {
			<-store.late
		}
		var blobs []string
		if err := root.List(ctx, MediaPrefix, func(i storage.Info) error { blobs = append(blobs, i.Key); return nil }); err != nil {
			t.Fatal(err)
		}
		var intents []string
		if err := cat.ListIntents(ctx, time.Time{}, func(in catalog.Intent) error { intents = append(intents, in.BlobKey); return nil }); err != nil {
			t.Fatal(err)
		}
		t.Logf("%+v: blobs %v intents %v", tc, blobs, intents)
		if len(blobs) != tc.blobs || len(intents) != 1 || len(blobs) == 1 && intents[0] != blobs[0] {
			t.Errorf("%+v: blobs %v, intents %v; want %d blobs and the intent kept for the collector", tc, blobs, intents, tc.blobs)
		}
		for _, k := range intents {
			_ = cat.DeleteIntent(ctx, k)
		}
	}
}
