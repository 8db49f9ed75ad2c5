package storage_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mediarepo/mediarepo/internal/storage"
	"github.com/mediarepo/mediarepo/internal/storage/fs"
	"github.com/mediarepo/mediarepo/internal/storage/storagetest"
)

func TestInstrumented(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s, err := fs.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return storage.Instrument(s, prometheus.NewRegistry())
	})

	s, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	i := storage.Instrument(s, prometheus.NewRegistry())
	ctx := context.Background()
	if err := i.Put(ctx, "a/b", bytes.NewReader([]byte("x")), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := i.Stat(ctx, "missing"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatal(err)
	}
	if err := i.Put(ctx, "bad//key", bytes.NewReader(nil), 0); err == nil {
		t.Fatal("invalid key accepted")
	}
	if got := testutil.ToFloat64(i.Errors().WithLabelValues("stat")); got != 0 {
		t.Fatalf("a missing blob counted as an error: %v", got)
	}
	if got := testutil.ToFloat64(i.Errors().WithLabelValues("put")); got != 1 {
		t.Fatalf("put errors %v, want 1", got)
	}
}
