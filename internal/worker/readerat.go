package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
)

// headMax is how much of the blob's start blobReaderAt keeps: the archive
// inspector looks at the first bytes before the engine streams from 0.
const headMax = 64 << 10

// Getter is the ranged read of the sealed blob store (plaintext offsets):
// storage.Store's Get. The caller closes the reader.
type Getter interface {
	Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
}

// blobReaderAt is an io.ReaderAt over one sealed blob, shaped for what
// scan.Checker does with it: a few small random reads (the zip inspector:
// the first bytes, the central directory, the entries) and then one
// sequential pass from offset 0 to the end (the engine's stream).
//
//   - A read at offset 0 opens one stream over the whole blob (for the
//     sealed store: one backend read, no Stat) and later reads that
//     continue where the stream stands keep reading it, so the engine's
//     pass costs one backend request, not one per 64 KiB chunk.
//   - The first headMax bytes read from that stream are kept, so the
//     inspector's look at the first bytes does not cost a second stream.
//   - Any other read is its own ranged Get of exactly the bytes asked for.
//
// It also hashes the bytes as they are covered in order from offset 0;
// Verify compares the SHA-256 with the catalog's once the whole blob has
// been covered (the engine's pass always covers it). Close releases the
// stream. Safe for concurrent use (calls are serialised).
type blobReaderAt struct {
	ctx  context.Context
	src  Getter
	key  string
	size int64

	mu     sync.Mutex
	cur    io.ReadCloser
	pos    int64 // offset of cur's next byte
	head   []byte
	hasher hash.Hash
	hashed int64 // bytes [0, hashed) went into hasher
}

func newBlobReaderAt(ctx context.Context, src Getter, key string, size int64) *blobReaderAt {
	return &blobReaderAt{ctx: ctx, src: src, key: key, size: size, hasher: sha256.New()}
}

// ReadAt implements io.ReaderAt.
func (r *blobReaderAt) ReadAt(p []byte, off int64) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if off < 0 {
		return 0, fmt.Errorf("blob %s: negative offset %d", r.key, off)
	}
	if off >= r.size {
		return 0, io.EOF
	}
	want := p
	if rest := r.size - off; int64(len(want)) > rest {
		want = want[:rest]
	}
	n, err := r.fill(want, off)
	r.hash(want[:n], off)
	if err == nil && n < len(p) {
		err = io.EOF
	}
	return n, err
}

// fill reads exactly len(p) bytes at off (p never reaches past the size).
func (r *blobReaderAt) fill(p []byte, off int64) (int, error) {
	n := 0
	if off < int64(len(r.head)) {
		n = copy(p, r.head[off:])
		off += int64(n)
	}
	if n == len(p) {
		return n, nil
	}
	if r.cur == nil && off == 0 {
		rc, err := r.src.Get(r.ctx, r.key, 0, -1)
		if err != nil {
			return n, err
		}
		r.cur, r.pos = rc, 0
	}
	if r.cur != nil && off == r.pos {
		m, err := io.ReadFull(r.cur, p[n:])
		if keep := min(int64(m), headMax-r.pos); keep > 0 && int64(len(r.head)) == r.pos {
			r.head = append(r.head, p[n:n+int(keep)]...)
		}
		r.pos += int64(m)
		return n + m, r.streamErr(err)
	}
	rc, err := r.src.Get(r.ctx, r.key, off, int64(len(p)-n))
	if err != nil {
		return n, err
	}
	defer rc.Close()
	m, err := io.ReadFull(rc, p[n:])
	return n + m, r.streamErr(err)
}

// streamErr turns a short blob into an error: the record's size promised
// more bytes than the blob has.
func (r *blobReaderAt) streamErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: blob %s is shorter than its recorded %d bytes", errBlobMismatch, r.key, r.size)
	}
	return err
}

// hash feeds the part of b (read at off) that continues the hashed prefix.
func (r *blobReaderAt) hash(b []byte, off int64) {
	end := off + int64(len(b))
	if off > r.hashed || end <= r.hashed {
		return
	}
	r.hasher.Write(b[r.hashed-off:])
	r.hashed = end
}

// Covered reports whether every byte of the blob has been read in order.
func (r *blobReaderAt) Covered() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hashed == r.size
}

// Verify returns nil when the blob was covered and its SHA-256 is want,
// an error wrapping errBlobMismatch when it was covered and differs, and
// an error when it was not covered.
func (r *blobReaderAt) Verify(want string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.hashed != r.size {
		return fmt.Errorf("blob %s: only %d of %d bytes were read", r.key, r.hashed, r.size)
	}
	if got := hex.EncodeToString(r.hasher.Sum(nil)); got != want {
		return fmt.Errorf("%w: blob %s has SHA-256 %s, the record says %s", errBlobMismatch, r.key, got, want)
	}
	return nil
}

// Close releases the open stream, if any.
func (r *blobReaderAt) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur == nil {
		return nil
	}
	err := r.cur.Close()
	r.cur = nil
	return err
}
