// Package storage defines the contract for opaque blob stores (filesystem,
// S3) and the errors every backend maps its native errors to. Backends do
// I/O only; encryption, metrics and validation are layered above them.
package storage

import (
	"context"
	"errors"
	"io"
	"time"
)

// Sentinel errors. Backends wrap them; callers check them with errors.Is.
var (
	// ErrNotFound means no blob has the key.
	ErrNotFound = errors.New("storage: blob not found")
	// ErrInvalidKey means the key is empty, too long or has characters the
	// store does not accept (see ValidateKey).
	ErrInvalidKey = errors.New("storage: invalid key")
	// ErrInvalidRange means a byte range starts beyond the end of the blob
	// or is negative.
	ErrInvalidRange = errors.New("storage: invalid range")
	// ErrSizeMismatch means a Put was given a size and the reader returned
	// a different number of bytes; nothing is kept.
	ErrSizeMismatch = errors.New("storage: size mismatch")
)

// Info describes a stored blob.
type Info struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// Store is the small contract every blob backend implements.
//
// Keys are slash-separated paths of ValidateKey's alphabet. A Put is atomic:
// a blob becomes visible only once its whole stream was written, and a
// failed or cancelled Put leaves nothing visible (a previous blob under the
// same key stays as it was). Cancelling ctx aborts the operation.
type Store interface {
	// Put stores the stream under key, replacing any blob there. size is
	// the exact length of r, or -1 when unknown. A size that does not
	// match the stream fails with ErrSizeMismatch and keeps nothing.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Get returns length bytes from offset (length -1: to the end; a range
	// past the end is cut at the end). offset beyond the size fails with
	// ErrInvalidRange; offset == size yields an empty reader. A missing key
	// fails with an error wrapping ErrNotFound. The caller closes the
	// reader; cancelling ctx aborts the read.
	Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
	// Stat returns the blob's info or an error wrapping ErrNotFound.
	Stat(ctx context.Context, key string) (Info, error)
	// Delete removes the blob; a missing key fails wrapping ErrNotFound.
	Delete(ctx context.Context, key string) error
	// List calls fn for every blob whose key starts with prefix, in key
	// order. An error from fn stops the listing and is returned.
	List(ctx context.Context, prefix string, fn func(Info) error) error
}
