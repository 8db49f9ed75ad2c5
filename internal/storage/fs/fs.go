// Package fs is the filesystem blob backend: one file per blob under
// <root>/blobs, written atomically through a temporary file in <root>/tmp
// (same filesystem), fsync and rename.
package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mediarepo/mediarepo/internal/storage"
)

const (
	blobsDir = "blobs"
	tmpDir   = "tmp"
	// staleTemp is the age after which New removes leftover temporary
	// files of crashed processes.
	staleTemp = time.Hour
	// copyBuffer is the chunk size of Put; ctx is checked between chunks.
	copyBuffer = 256 << 10
)

// Store keeps blobs as files. It is safe for concurrent use. Blobs are
// written with mode 0600 and directories with 0700: the process owner is
// the only reader.
type Store struct {
	blobs string
	tmp   string
}

var _ storage.Store = (*Store)(nil)

// New opens (creating if needed) a store rooted at root, and removes
// temporary files older than an hour that a crashed process left behind.
func New(root string) (*Store, error) {
	if root == "" {
		return nil, errors.New("fs: empty root directory")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("fs: root %q: %w", root, err)
	}
	s := &Store{blobs: filepath.Join(abs, blobsDir), tmp: filepath.Join(abs, tmpDir)}
	for _, dir := range []string{s.blobs, s.tmp} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("fs: create %s: %w", dir, err)
		}
	}
	if err := s.removeStaleTemps(time.Now().Add(-staleTemp)); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) removeStaleTemps(before time.Time) error {
	entries, err := os.ReadDir(s.tmp)
	if err != nil {
		return fmt.Errorf("fs: read %s: %w", s.tmp, err)
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.ModTime().Before(before) {
			continue
		}
		if err := os.Remove(filepath.Join(s.tmp, e.Name())); err != nil && !errors.Is(err, iofs.ErrNotExist) {
			return fmt.Errorf("fs: remove stale temporary file: %w", err)
		}
	}
	return nil
}

// path maps a valid key to its file.
func (s *Store) path(key string) string {
	return filepath.Join(s.blobs, filepath.FromSlash(key))
}

// Put writes r to a temporary file, syncs it and renames it over key.
// An error from r is returned wrapped; nothing is visible unless Put
// returns nil.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) (err error) {
	if err := storage.ValidateKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fs: put %s: %w", key, err)
	}
	f, err := os.CreateTemp(s.tmp, "put-*")
	if err != nil {
		return fmt.Errorf("fs: put %s: %w", key, err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	src := storage.ContextReader(ctx, storage.CheckSize(r, size))
	if _, err := io.CopyBuffer(onlyWriter{f}, src, make([]byte, copyBuffer)); err != nil {
		return fmt.Errorf("fs: put %s: %w", key, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fs: put %s: sync: %w", key, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("fs: put %s: close: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fs: put %s: %w", key, err)
	}
	return s.publish(f.Name(), key)
}

// publish renames the finished temporary file to key's path, creating
// parent directories. A concurrent Delete may remove an empty parent
// while MkdirAll creates the path or before Rename, so the pair is
// retried a few times.
func (s *Store) publish(tmp, key string) error {
	dst := s.path(key)
	dir := filepath.Dir(dst)
	var err error
	for range 10 {
		err = os.MkdirAll(dir, 0o700)
		if err == nil {
			err = os.Rename(tmp, dst)
		}
		if !errors.Is(err, iofs.ErrNotExist) {
			break
		}
	}
	if err != nil {
		if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.EEXIST) {
			return fmt.Errorf("fs: put %s: %w: a key cannot be both a blob and a prefix of another blob on the filesystem backend", key, storage.ErrInvalidKey)
		}
		return fmt.Errorf("fs: put %s: %w", key, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fs: sync %s: %w", dir, err)
	}
	defer func() { _ = d.Close() }()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fs: sync %s: %w", dir, err)
	}
	return nil
}

// Stat returns the blob's size and modification time.
func (s *Store) Stat(ctx context.Context, key string) (storage.Info, error) {
	if err := storage.ValidateKey(key); err != nil {
		return storage.Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return storage.Info{}, err
	}
	fi, err := os.Stat(s.path(key))
	if err != nil {
		return storage.Info{}, mapErr("stat", key, err)
	}
	if !fi.Mode().IsRegular() {
		return storage.Info{}, fmt.Errorf("fs: stat %s: %w", key, storage.ErrNotFound)
	}
	return storage.Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Delete removes the blob and then every parent directory it left empty.
func (s *Store) Delete(ctx context.Context, key string) error {
	if _, err := s.Stat(ctx, key); err != nil {
		return err
	}
	if err := os.Remove(s.path(key)); err != nil {
		return mapErr("delete", key, err)
	}
	for dir := filepath.Dir(s.path(key)); dir != s.blobs && strings.HasPrefix(dir, s.blobs); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break // not empty (or already gone): stop climbing
		}
	}
	return nil
}

// mapErr maps "no such file" and "not a directory" to ErrNotFound.
func mapErr(op, key string, err error) error {
	if errors.Is(err, iofs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("fs: %s %s: %w", op, key, storage.ErrNotFound)
	}
	return fmt.Errorf("fs: %s %s: %w", op, key, err)
}

// onlyWriter hides *os.File's ReadFrom so io.CopyBuffer uses our buffer
// and our ctx checks instead of copy_file_range/sendfile.
type onlyWriter struct{ w io.Writer }

func (o onlyWriter) Write(p []byte) (int, error) { return o.w.Write(p) }
