package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/mediarepo/mediarepo/internal/storage"
)

// Get opens the blob and returns length bytes from offset (see
// storage.Store). Reads fail once ctx is done.
func (s *Store) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := storage.ValidateKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.Open(s.path(key))
	if err != nil {
		return nil, mapErr("get", key, err)
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		_ = f.Close()
		if err == nil {
			err = iofs.ErrNotExist
		}
		return nil, mapErr("get", key, err)
	}
	if offset < 0 || offset > fi.Size() {
		_ = f.Close()
		return nil, fmt.Errorf("fs: get %s: offset %d of %d bytes: %w", key, offset, fi.Size(), storage.ErrInvalidRange)
	}
	if length < 0 || length > fi.Size()-offset {
		length = fi.Size() - offset
	}
	return &fileReader{f: f, r: storage.ContextReader(ctx, io.NewSectionReader(f, offset, length))}, nil
}

type fileReader struct {
	f *os.File
	r io.Reader
}

func (fr *fileReader) Read(p []byte) (int, error) { return fr.r.Read(p) }
func (fr *fileReader) Close() error               { return fr.f.Close() }

// List walks the blobs under prefix in key order. Within a directory an
// entry "x" that is a directory sorts as "x/", which makes a depth-first
// walk yield exactly the byte order of the keys without collecting them.
func (s *Store) List(ctx context.Context, prefix string, fn func(storage.Info) error) error {
	if err := storage.ValidatePrefix(prefix); err != nil {
		return err
	}
	dirKey, namePrefix := "", prefix
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		dirKey, namePrefix = prefix[:i+1], prefix[i+1:]
	}
	return s.walk(ctx, dirKey, namePrefix, fn)
}

// walk lists directory dirKey ("" or ending in "/"), visiting entries
// whose names start with namePrefix.
func (s *Store) walk(ctx context.Context, dirKey, namePrefix string, fn func(storage.Info) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	entries, err := os.ReadDir(filepath.Join(s.blobs, filepath.FromSlash(dirKey)))
	if err != nil {
		if errors.Is(err, iofs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil
		}
		return fmt.Errorf("fs: list %s: %w", dirKey, err)
	}
	sortKey := func(e iofs.DirEntry) string {
		if e.IsDir() {
			return e.Name() + "/"
		}
		return e.Name()
	}
	slices.SortFunc(entries, func(a, b iofs.DirEntry) int { return strings.Compare(sortKey(a), sortKey(b)) })
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), namePrefix) {
			continue
		}
		key := dirKey + e.Name()
		if e.IsDir() {
			if err := s.walk(ctx, key+"/", "", fn); err != nil {
				return err
			}
			continue
		}
		if !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			if os.IsNotExist(err) {
				continue // deleted while we walk
			}
			return fmt.Errorf("fs: list %s: %w", key, err)
		}
		if err := fn(storage.Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
			return err
		}
	}
	return nil
}
