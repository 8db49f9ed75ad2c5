package service

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"image"
	"image/jpeg"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediarepo/mediarepo/internal/catalog/kv"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/sealed"
	"github.com/mediarepo/mediarepo/internal/storage/fs"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

// newTestStore returns a KV catalog on the test NATS and a sealed
// filesystem store.
func newTestStore(t *testing.T) (*kv.Catalog, *sealed.Store) {
	t.Helper()
	cat, err := kv.New(context.Background(), testenv.JetStream(t), kv.Options{}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cat.Close() })
	backend, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, sealed.KeySize)
	rand.Read(key)
	keys, err := sealed.NewKeyring("k", map[string][]byte{"k": key})
	if err != nil {
		t.Fatal(err)
	}
	return cat, sealed.New(backend, keys)
}

// withPrefix returns n random bytes that start with prefix: ciphertext
// whose sender tried IVs until its first bytes matched a magic number.
func withPrefix(prefix string, n int) []byte {
	return append([]byte(prefix), testenv.Random(n-len(prefix))...)
}

// TestOpaqueNeedsStructure: with media.opaque_content: refuse, random
// bytes that start with a type's magic number (BM for BMP, FF D8 FF for
// JPEG, ...) are refused on the keyless endpoints like any ciphertext;
// real files of those types are served.
func TestOpaqueNeedsStructure(t *testing.T) {
	ctx := context.Background()
	cat, store := newTestStore(t)
	svc := New(store, cat, nil, Options{MaxUploadSize: 10 << 20, DevMarkClean: true, RefuseOpaque: true,
		UnusedExpiresAfter: time.Hour, MaxPendingCreates: 10}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	upload := func(t *testing.T, data []byte) media.Record {
		t.Helper()
		rec, err := svc.Upload(ctx, Upload{Origin: "example.org", Uploader: "@alice:example.org", DeclaredType: "application/octet-stream",
			Body: bytes.NewReader(data), ContentLength: int64(len(data))})
		if err != nil {
			t.Fatal(err)
		}
		return rec
	}
	var photo bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 300, 200))
	rand.Read(img.Pix)
	if err := jpeg.Encode(&photo, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}

	for name, data := range map[string][]byte{
		"BM":   withPrefix("BM", 20000),
		"JPEG": withPrefix("\xff\xd8\xff", 20000),
		"PNG":  withPrefix("\x89PNG", 20000),
		"GIF":  withPrefix("GIF", 20000),
		"zip":  withPrefix("PK\x03\x04", 20000),
		"mp4":  withPrefix("\x00\x00\x00\x18ftypisom", 20000),
		"gzip": withPrefix("\x1f\x8b\x08", 20000),
	} {
		t.Run("refused "+name, func(t *testing.T) {
			rec := upload(t, data)
			if rec.SniffedType == "" {
				t.Fatalf("%s prefix not sniffed as a type; the case tests nothing", name)
			}
			if _, err := svc.Download(ctx, rec.Origin, rec.ID, 0); !errors.Is(err, ErrOpaque) {
				t.Fatalf("random bytes sniffed as %s: %v; want ErrOpaque", rec.SniffedType, err)
			}
		})
	}
	for name, data := range map[string][]byte{
		"jpeg of noise": photo.Bytes(),
		"png":           testenv.PNG(t, 64, 48),
		"zip of random": testenv.Zip(t, testenv.ZipEntry{Name: "a.bin", Data: testenv.Random(50 << 10), Store: true}),
		"pdf":           testenv.PDFWithAttachment(t, "a.bin", testenv.Random(20<<10)),
		"text":          []byte("Hello, Matrix!"),
	} {
		t.Run("served "+name, func(t *testing.T) {
			rec := upload(t, data)
			if _, err := svc.Download(ctx, rec.Origin, rec.ID, 0); err != nil {
				t.Fatalf("sniffed %s (%s), entropy %v: %v", rec.SniffedType, rec.TypeCheck, rec.Entropy, err)
			}
		})
	}

	// A record stored before the check: judged from its first bytes.
	t.Run("refused legacy", func(t *testing.T) {
		rec := upload(t, withPrefix("BM", 20000))
		if _, _, err := cat.Modify(ctx, rec.Origin, rec.ID, func(r *media.Record) error {
			r.TypeCheck = ""
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Download(ctx, rec.Origin, rec.ID, 0); !errors.Is(err, ErrOpaque) {
			t.Fatalf("legacy record: %v; want ErrOpaque", err)
		}
	})
}
