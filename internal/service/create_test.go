package service

import (
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediarepo/mediarepo/internal/catalog/kv"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/storage/fs"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

// TestCreateLimitAtomic is issue 14 item 15: POST /create counted the
// uploader's open reservations by reading every record of theirs, and the
// count and the create were two steps, so concurrent creates passed the
// limit. Now the catalog reserves atomically: of 16 concurrent creates at
// a limit of 4, exactly 4 succeed, and an upload into one frees its place.
func TestCreateLimitAtomic(t *testing.T) {
	ctx := t.Context()
	cat, err := kv.New(ctx, testenv.JetStream(t), kv.Options{}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cat.Close() })
	store, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := New(store, cat, nil, Options{MaxUploadSize: 1 << 20, UnusedExpiresAfter: time.Hour, MaxPendingCreates: 4, DevMarkClean: true},
		slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	const user = "@alice:example.org"
	var created atomic.Int32
	var ids sync.Map
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			rec, err := s.Create(ctx, "example.org", user)
			switch {
			case err == nil:
				created.Add(1)
				ids.Store(rec.ID, true)
			case !errors.Is(err, media.ErrLimitExceeded):
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if created.Load() != 4 {
		t.Fatalf("%d of 16 concurrent creates succeeded, want the limit of 4", created.Load())
	}
	if _, err := s.Create(ctx, "example.org", "@bob:example.org"); err != nil {
		t.Fatalf("another user's create: %v", err)
	}
	var first string
	ids.Range(func(k, _ any) bool { first = k.(string); return false })
	if _, err := s.UploadTo(ctx, first, Upload{Origin: "example.org", Uploader: user, DeclaredType: "text/plain",
		Body: strings.NewReader("hello"), ContentLength: 5}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "example.org", user); err != nil {
		t.Fatalf("create after one reservation was filled: %v", err)
	}
	if _, err := s.Create(ctx, "example.org", user); !errors.Is(err, media.ErrLimitExceeded) {
		t.Fatalf("create over the limit: %v, want ErrLimitExceeded", err)
	}
}
