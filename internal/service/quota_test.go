package service

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/catalog/kv"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/storage/fs"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

// countFiles counts the blobs in the filesystem store.
func countFiles(t *testing.T, root string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(root, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// onlyReader hides a reader's other methods (a chunked body: no length).
type onlyReader struct{ io.Reader }

// TestQuotas: per-user limits from a counter in the catalog, refused
// before anything is stored, atomic under concurrency, imports counted
// without being refused.
func TestQuotas(t *testing.T) {
	ctx := t.Context()
	cat, err := kv.New(ctx, testenv.JetStream(t), kv.Options{}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cat.Close() })
	root := t.TempDir()
	store, err := fs.New(root)
	if err != nil {
		t.Fatal(err)
	}
	s := New(store, cat, nil, Options{MaxUploadSize: 1 << 20, UnusedExpiresAfter: time.Hour, MaxPendingCreates: 4, DevMarkClean: true},
		slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	s.EnableQuotas(cat, Quotas{InfoURI: "https://example.org/quota", Limit: func(user string) catalog.Usage {
		if user == "@bridge:example.org" {
			return catalog.Usage{}
		}
		return catalog.Usage{Bytes: 30000, Files: 3}
	}})
	up := func(user string, n int, declare bool) error {
		body := testenv.Random(n)
		u := Upload{Origin: "example.org", Uploader: user, DeclaredType: "application/octet-stream", ContentLength: -1,
			Body: onlyReader{bytes.NewReader(body)}}
		if declare {
			u.ContentLength = int64(n)
		}
		_, err := s.Upload(ctx, u)
		return err
	}
	usage := func(user string) catalog.Usage {
		used, _, err := s.Usage(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		return used
	}
	const alice = "@alice:example.org"
	for range 2 {
		if err := up(alice, 10000, true); err != nil {
			t.Fatal(err)
		}
	}
	if u := usage(alice); u != (catalog.Usage{Bytes: 20000, Files: 2}) {
		t.Fatalf("usage %+v, want 20000 bytes in 2 files", u)
	}
	blobs := countFiles(t, root)
	for _, declare := range []bool{true, false} { // declared over, and a chunked body that passes the limit
		err := up(alice, 15000, declare)
		var ule *UserLimitError
		if !errors.Is(err, ErrUserLimitExceeded) || !errors.As(err, &ule) || ule.InfoURI != "https://example.org/quota" {
			t.Fatalf("over the byte limit (declared %v): %v", declare, err)
		}
		if got := countFiles(t, root); got != blobs {
			t.Fatalf("a refused upload left %d blobs (had %d)", got, blobs)
		}
		if u := usage(alice); u != (catalog.Usage{Bytes: 20000, Files: 2}) {
			t.Fatalf("a refused upload changed the usage: %+v", u)
		}
	}
	if err := up(alice, 5000, false); err != nil {
		t.Fatal(err)
	}
	if err := up(alice, 10, true); !errors.Is(err, ErrUserLimitExceeded) {
		t.Fatalf("a fourth file with max_files 3: %v", err)
	}
	// Without a limit the count is taken beside the store (issue 18): the
	// same count, given back when the upload keeps nothing.
	if err := up("@bridge:example.org", 100000, true); err != nil {
		t.Fatalf("an override without limits: %v", err)
	}
	if err := up("@bridge:example.org", 2000, false); err != nil {
		t.Fatal(err)
	}
	blobs = countFiles(t, root)
	if err := up("@bridge:example.org", 2<<20, false); !errors.Is(err, media.ErrTooLarge) {
		t.Fatalf("a chunked body over max_upload_size: %v", err)
	}
	if u := usage("@bridge:example.org"); u != (catalog.Usage{Bytes: 102000, Files: 2}) || countFiles(t, root) != blobs {
		t.Fatalf("unlimited user: usage %+v, want 102000 bytes in 2 files; %d blobs, want %d", u, countFiles(t, root), blobs)
	}

	// Atomic: of 8 concurrent uploads of 9000 bytes at 30000, exactly 3 fit.
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			switch err := up("@carol:example.org", 9000, true); {
			case err == nil:
				ok.Add(1)
			case !errors.Is(err, ErrUserLimitExceeded):
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 3 || usage("@carol:example.org") != (catalog.Usage{Bytes: 27000, Files: 3}) {
		t.Fatalf("%d concurrent uploads passed, usage %+v; want 3 and 27000 bytes", ok.Load(), usage("@carol:example.org"))
	}

	// Imported media counts, and is never refused for the quota.
	if _, err := s.Import(ctx, Imported{Origin: "example.org", ID: "imported1", Uploader: alice, Body: bytes.NewReader(testenv.Random(50000)),
		Size: 50000, Actor: "import:test", CreatedAt: time.Now()}); err != nil {
		t.Fatalf("import over the quota: %v", err)
	}
	if u := usage(alice); u != (catalog.Usage{Bytes: 75000, Files: 4}) {
		t.Fatalf("usage after the import %+v, want 75000 bytes in 4 files", u)
	}
	s.ReleaseUsage(ctx, alice, 50000)
	if u := usage(alice); u != (catalog.Usage{Bytes: 25000, Files: 3}) {
		t.Fatalf("usage after a deletion %+v", u)
	}
}
