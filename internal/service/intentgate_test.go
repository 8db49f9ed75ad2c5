package service

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/sealed"
	"github.com/mediarepo/mediarepo/internal/storage"
	"github.com/mediarepo/mediarepo/internal/storage/fs"
	"github.com/mediarepo/mediarepo/internal/storage/s3"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

// putCounter counts the Puts of a store that completed (a blob existed,
// even if it was deleted later).
type putCounter struct {
	storage.Store
	stored atomic.Int64
}

func (p *putCounter) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	err := p.Store.Put(ctx, key, r, size)
	if err == nil {
		p.stored.Add(1)
	}
	return err
}

// TestIntentFailureStoresNothing: the intent is written while the body
// streams (intentgate.go). When it cannot be written (here its statement
// never reaches PostgreSQL), the upload fails and no blob exists, on real
// MinIO (a single PUT, a multipart upload of known size and one of
// unknown size) and on the filesystem store, whose Put never completes
// (not a blob removed afterwards); the same uploads with the
// intent written store their blob.
func TestIntentFailureStoresNothing(t *testing.T) {
	ctx := t.Context()
	direct, failing, proxy := cutCatalogs(t, "INSERT INTO intents", true)

	key := make([]byte, sealed.KeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	keys, err := sealed.NewKeyring("k", map[string][]byte{"k": key})
	if err != nil {
		t.Fatal(err)
	}
	env := testenv.S3(t)
	_, bucket := testenv.S3Bucket(t)
	s3store, err := s3.New(ctx, s3.Config{Endpoint: env.Endpoint, Bucket: bucket, AccessKey: env.AccessKey, SecretKey: env.SecretKey, PartSize: s3.MinPartSize})
	if err != nil {
		t.Fatal(err)
	}
	fsstore, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sizes := []struct {
		name    string
		size    int
		chunked bool
	}{
		{"empty", 0, false}, {"10 KB", 10_000, false}, {"1 MiB", 1 << 20, false},
		{"11 MiB multipart", 11 << 20, false}, {"11 MiB unknown length", 11 << 20, true},
	}
	for name, backend := range map[string]storage.Store{"s3": s3store, "fs": fsstore} {
		t.Run(name, func(t *testing.T) {
			for _, cat := range []struct {
				name   string
				c      Catalog
				stored bool
			}{{"intent fails", failing, false}, {"intent written", direct, true}} {
				puts := &putCounter{Store: backend}
				svc := New(sealed.New(puts, keys), cat.c, nil, Options{MaxUploadSize: 16 << 20, DevMarkClean: true,
					UnusedExpiresAfter: time.Hour, MaxPendingCreates: 10}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
				for _, sz := range sizes {
					var body io.Reader = bytes.NewReader(testenv.Random(sz.size))
					length := int64(sz.size)
					if sz.chunked {
						body, length = onlyReader{body}, -1
					}
					cuts := proxy.cuts.Load()
					rec, err := svc.Upload(ctx, Upload{Origin: "example.org", Uploader: "@alice:example.org",
						DeclaredType: "application/octet-stream", Body: body, ContentLength: length})
					if cat.stored != (err == nil) {
						t.Fatalf("%s, %s: upload: %v", cat.name, sz.name, err)
					}
					if !cat.stored && proxy.cuts.Load() != cuts+1 {
						t.Fatalf("%s, %s: the intent's statement was cut %d times", cat.name, sz.name, proxy.cuts.Load()-cuts)
					}
					var blobs []string
					if err := backend.List(ctx, "", func(in storage.Info) error {
						blobs = append(blobs, in.Key)
						return nil
					}); err != nil {
						t.Fatal(err)
					}
					if cat.stored && (len(blobs) != 1 || blobs[0] != rec.BlobKey) {
						t.Fatalf("%s, %s: blobs %v, want %s", cat.name, sz.name, blobs, rec.BlobKey)
					}
					if !cat.stored && (len(blobs) != 0 || puts.stored.Load() != 0) {
						t.Fatalf("%s, %s: blobs %v, %d puts completed after an upload whose intent failed", cat.name, sz.name, blobs, puts.stored.Load())
					}
					if cat.stored {
						if err := backend.Delete(ctx, rec.BlobKey); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			var intents int
			if err := direct.ListIntents(ctx, time.Time{}, func(catalog.Intent) error { intents++; return nil }); err != nil || intents != 0 {
				t.Fatalf("%d intents left (%v)", intents, err)
			}
		})
	}
}
