package s3

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/minio/minio-go/v7"

	"github.com/mediarepo/mediarepo/internal/storage"
)

// Put uploads r under key (see storage.Store). An error from r is
// returned wrapped. A failed multipart upload is aborted, so its parts do
// not linger (the lifecycle rule is the backstop for crashed processes).
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := storage.ValidateKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("s3: put %s: %w", key, err)
	}
	src := &errReader{r: storage.ContextReader(ctx, storage.CheckSize(r, size))}
	var body io.Reader = src
	if size == 0 {
		// minio-go never reads an empty body: check here that r is empty.
		if _, err := src.Read(make([]byte, 1)); err != io.EOF {
			return fmt.Errorf("s3: put %s: %w", key, err)
		}
		body = bytes.NewReader(nil)
	}
	opts := s.put
	if size < 0 {
		// Unknown size: one part at a time through one buffer (PartSize),
		// not Concurrency buffers filled at the first byte.
		opts.NumThreads, opts.ConcurrentStreamParts = 1, false
	}
	_, err := s.client.PutObject(ctx, s.bucket, key, body, size, opts)
	if size < 0 || uint64(size) > opts.PartSize {
		s.release.uploaded() // its part buffers are garbage now, whatever the outcome
	}
	if err != nil {
		if src.err != nil {
			return fmt.Errorf("s3: put %s: %w", key, src.err)
		}
		return mapErr(ctx, "put", key, err)
	}
	return nil
}

// errReader remembers the first error of r other than io.EOF, since
// minio-go does not always return it wrapped.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// Get streams length bytes from offset in one GET. Only a range that S3
// refuses (at or past the end) costs a second request, a HEAD, to tell
// offset == size (an empty reader) from offset > size (ErrInvalidRange).
func (s *Store) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := storage.ValidateKey(key); err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fmt.Errorf("s3: get %s: offset %d: %w", key, offset, storage.ErrInvalidRange)
	}
	if length == 0 {
		return s.emptyAt(ctx, key, offset)
	}
	var opts minio.GetObjectOptions
	switch {
	case length > 0:
		err := opts.SetRange(offset, offset+length-1)
		if err != nil {
			return nil, fmt.Errorf("s3: get %s: %w", key, err)
		}
	case offset > 0:
		err := opts.SetRange(offset, 0)
		if err != nil {
			return nil, fmt.Errorf("s3: get %s: %w", key, err)
		}
	}
	body, _, _, err := s.core.GetObject(ctx, s.bucket, key, opts)
	if err != nil {
		if isCode(err, "InvalidRange") {
			return s.emptyAt(ctx, key, offset)
		}
		return nil, mapErr(ctx, "get", key, err)
	}
	return body, nil
}

// emptyAt returns an empty reader when offset is within or at the end of
// the blob, ErrInvalidRange beyond it.
func (s *Store) emptyAt(ctx context.Context, key string, offset int64) (io.ReadCloser, error) {
	info, err := s.Stat(ctx, key)
	if err != nil {
		return nil, err
	}
	if offset > info.Size {
		return nil, fmt.Errorf("s3: get %s: offset %d of %d bytes: %w", key, offset, info.Size, storage.ErrInvalidRange)
	}
	return io.NopCloser(bytes.NewReader(nil)), nil
}

// Stat returns the object's size and last-modified time.
func (s *Store) Stat(ctx context.Context, key string) (storage.Info, error) {
	if err := storage.ValidateKey(key); err != nil {
		return storage.Info{}, err
	}
	oi, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return storage.Info{}, mapErr(ctx, "stat", key, err)
	}
	return storage.Info{Key: key, Size: oi.Size, ModTime: oi.LastModified}, nil
}

// Delete removes the object. S3 deletes of missing keys succeed silently,
// so Delete asks first (a HEAD) to report ErrNotFound.
func (s *Store) Delete(ctx context.Context, key string) error {
	if _, err := s.Stat(ctx, key); err != nil {
		return err
	}
	if err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil {
		return mapErr(ctx, "delete", key, err)
	}
	return nil
}

// List pages through the objects under prefix in key order.
func (s *Store) List(ctx context.Context, prefix string, fn func(storage.Info) error) error {
	if err := storage.ValidatePrefix(prefix); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	objects := s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true})
	var stop error
	for oi := range objects {
		if stop != nil {
			continue // drain after cancel so the lister goroutine ends
		}
		if oi.Err != nil {
			stop = mapErr(ctx, "list", prefix, oi.Err)
			cancel()
			continue
		}
		if err := fn(storage.Info{Key: oi.Key, Size: oi.Size, ModTime: oi.LastModified}); err != nil {
			stop = err
			cancel()
		}
	}
	if stop == nil && ctx.Err() != nil {
		return fmt.Errorf("s3: list %s: %w", prefix, ctx.Err())
	}
	return stop
}
