package fs_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/storage"
	"github.com/mediarepo/mediarepo/internal/storage/fs"
	"github.com/mediarepo/mediarepo/internal/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s, err := fs.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// A Put in progress lives only in tmp/: List and Stat never see it, and a
// failed Put removes its temporary file.
func TestTempFilesInvisible(t *testing.T) {
	root := t.TempDir()
	s, err := fs.New(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- s.Put(ctx, "a/b", pr, 10) }()
	if _, err := pw.Write([]byte("12345")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return countFiles(t, filepath.Join(root, "tmp")) == 1 })
	if _, err := s.Stat(ctx, "a/b"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Stat during Put: got %v, want ErrNotFound", err)
	}
	var listed []string
	if err := s.List(ctx, "", func(i storage.Info) error { listed = append(listed, i.Key); return nil }); err != nil || len(listed) > 0 {
		t.Errorf("List during Put: %v, %v", listed, err)
	}
	pw.CloseWithError(errors.New("client went away"))
	if err := <-done; err == nil {
		t.Fatal("Put with a broken stream succeeded")
	}
	if n := countFiles(t, filepath.Join(root, "tmp")); n != 0 {
		t.Errorf("%d temporary files left after a failed Put", n)
	}
}

// New removes temporary files a crashed process left, once they are old.
func TestNewRemovesStaleTemps(t *testing.T) {
	root := t.TempDir()
	if _, err := fs.New(root); err != nil {
		t.Fatal(err)
	}
	stale, fresh := filepath.Join(root, "tmp", "put-stale"), filepath.Join(root, "tmp", "put-fresh")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.New(root); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temporary file still there: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh temporary file (maybe a Put in flight) removed: %v", err)
	}
}

// Delete removes the directories it empties but never the blobs root.
func TestDeletePrunesDirectories(t *testing.T) {
	root := t.TempDir()
	s, err := fs.New(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, k := range []string{"x/y/z/1", "x/2"} {
		if err := s.Put(ctx, k, bytes.NewReader([]byte(k)), -1); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(filepath.Join(root, "blobs"))
	if err != nil || len(entries) != 0 {
		t.Errorf("blobs dir after deleting everything: %v, %v", entries, err)
	}
}

func countFiles(t *testing.T, dir string) int {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
