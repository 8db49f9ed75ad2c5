// Package sealed encrypts blobs at rest above any storage.Store (envelope
// encryption, design §4).
//
// Every blob gets a fresh random 32-byte data key. The plaintext is
// encrypted with it in DARE 2.0 (github.com/minio/sio): 64 KiB segments,
// each sealed with AES-256-GCM (or ChaCha20-Poly1305 on CPUs without AES
// instructions) under a nonce made of a random per-blob value and the
// segment's sequence number, the last segment marked final. So:
//   - a flipped bit anywhere in a segment fails that segment's tag;
//   - reordered, dropped or duplicated segments fail (wrong sequence number);
//   - truncation fails (no final segment), as do bytes after the final one;
//   - segments of another blob fail, because that blob has another data key:
//     the random data key is what binds segments to their blob, not the
//     storage key, so a blob can be moved (quarantine) without re-encryption;
//   - truncating a blob to its bare header fails because the header records
//     that the plaintext was not empty.
//
// The data key is wrapped with AES-256-GCM under a master key named by a
// key ID; the header fields (version, flags, key ID) are the additional
// data, so a header cannot be altered and a header moved onto another
// blob's segments yields a data key that fails every segment. Nonces of
// the wrap are random: rotate the master key long before 2^32 blobs.
// What sealing cannot see is a whole blob replaced by another complete
// sealed blob (legitimately moved blobs look the same); the catalog's
// plaintext SHA-256 is the check for that.
package sealed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/minio/sio"

	"github.com/mediarepo/mediarepo/internal/storage"
)

var (
	// ErrUnknownKey means a blob names a master key ID the keyring lacks.
	ErrUnknownKey = errors.New("sealed: unknown master key")
	// ErrTampered means a blob does not authenticate: it was altered,
	// truncated, extended or is not a sealed blob at all.
	ErrTampered = errors.New("sealed: blob failed authentication")
)

const (
	// SegmentSize is the plaintext size of one DARE segment.
	SegmentSize = 64 << 10
	// segmentOverhead is DARE's per-segment header and tag.
	segmentOverhead = 32
	packageSize     = SegmentSize + segmentOverhead
)

// Store seals blobs into a backend. Keys, sizes, offsets and ranges are
// those of the plaintext; the backend sees only ciphertext. It implements
// storage.Store and is safe for concurrent use.
type Store struct {
	backend storage.Store
	keys    *Keyring
}

var _ storage.Store = (*Store)(nil)

// New returns a store that seals into backend with the keyring's current
// key and opens blobs under any of its keys.
func New(backend storage.Store, keys *Keyring) *Store {
	return &Store{backend: backend, keys: keys}
}

// SealedSize returns the stored size of a plaintext of size bytes.
func SealedSize(size int64) (int64, error) {
	n, err := sio.EncryptedSize(uint64(size))
	if err != nil || size < 0 {
		return 0, fmt.Errorf("sealed: size %d: cannot be sealed", size)
	}
	return HeaderSize + int64(n), nil
}

// plainSize is the plaintext size of a stored blob of sealed bytes.
func plainSize(key string, sealed int64) (int64, error) {
	if sealed < HeaderSize {
		return 0, fmt.Errorf("%w: %s: %d bytes, shorter than a header", ErrTampered, key, sealed)
	}
	if sealed == HeaderSize {
		return 0, nil
	}
	n, err := sio.DecryptedSize(uint64(sealed - HeaderSize))
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %d bytes is no sealed size", ErrTampered, key, sealed)
	}
	return int64(n), nil
}

func (s *Store) dareConfig(dataKey []byte, seq uint32) sio.Config {
	return sio.Config{MinVersion: sio.Version20, MaxVersion: sio.Version20, Key: dataKey, SequenceNumber: seq}
}

// Put seals r and stores it under key; size is the plaintext size or -1.
// The backend learns the exact sealed size whenever size is known. An
// error from r is returned wrapped; nothing is stored unless Put returns
// nil.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := storage.ValidateKey(key); err != nil {
		return err
	}
	sealedSize := int64(-1)
	if size >= 0 {
		n, err := SealedSize(size)
		if err != nil {
			return err
		}
		sealedSize = n
	}
	src := &sourceReader{r: storage.ContextReader(ctx, storage.CheckSize(r, size))}
	// The header says whether the plaintext is empty, so look ahead one byte.
	var first [1]byte
	n, err := io.ReadFull(src, first[:])
	if err != nil && err != io.EOF {
		return fmt.Errorf("sealed: put %s: %w", key, err)
	}
	hdr, dataKey, err := s.keys.newHeader(n == 1)
	if err != nil {
		return err
	}
	var body io.Reader = bytes.NewReader(hdr[:])
	if n == 1 {
		enc, err := sio.EncryptReader(io.MultiReader(bytes.NewReader(first[:]), src), s.dareConfig(dataKey, 0))
		if err != nil {
			return fmt.Errorf("sealed: put %s: %w", key, err)
		}
		body = io.MultiReader(body, enc)
	}
	if err := s.backend.Put(ctx, key, body, sealedSize); err != nil {
		return fmt.Errorf("sealed: put %s: %w", key, err)
	}
	return nil
}

// sourceReader wraps every error of the plaintext stream except io.EOF.
// DARE's reader takes a bare io.ErrUnexpectedEOF from its source for the
// end of the stream, and net/http reports a client that hung up mid-body
// exactly so: unwrapped, a broken upload would be sealed as a short blob.
type sourceReader struct{ r io.Reader }

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("reading the plaintext: %w", err)
	}
	return n, err
}

// Stat returns the blob's plaintext size, computed from the sealed size
// without reading the blob.
func (s *Store) Stat(ctx context.Context, key string) (storage.Info, error) {
	info, err := s.backend.Stat(ctx, key)
	if err != nil {
		return storage.Info{}, fmt.Errorf("sealed: %w", err)
	}
	info.Size, err = plainSize(key, info.Size)
	if err != nil {
		return storage.Info{}, err
	}
	return info, nil
}

// Delete removes the blob.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.backend.Delete(ctx, key); err != nil {
		return fmt.Errorf("sealed: %w", err)
	}
	return nil
}

// List reports blobs with their plaintext sizes; a blob whose stored size
// no sealed blob can have is reported with Size -1 (Get says why).
func (s *Store) List(ctx context.Context, prefix string, fn func(storage.Info) error) error {
	return s.backend.List(ctx, prefix, func(info storage.Info) error {
		size, err := plainSize(info.Key, info.Size)
		if err != nil {
			size = -1
		}
		info.Size = size
		return fn(info)
	})
}

// Move copies the sealed bytes of from to to without decrypting them, then
// deletes from. Blobs are bound to their data key, not to their storage
// key, so the moved blob opens as before. A failure before the delete
// leaves from in place (and possibly a complete copy at to).
func (s *Store) Move(ctx context.Context, from, to string) error {
	info, err := s.backend.Stat(ctx, from)
	if err != nil {
		return fmt.Errorf("sealed: move: %w", err)
	}
	rc, err := s.backend.Get(ctx, from, 0, -1)
	if err != nil {
		return fmt.Errorf("sealed: move: %w", err)
	}
	err = s.backend.Put(ctx, to, rc, info.Size)
	if cerr := rc.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sealed: move %s to %s: %w", from, to, err)
	}
	if err := s.backend.Delete(ctx, from); err != nil {
		return fmt.Errorf("sealed: move %s to %s: %w", from, to, err)
	}
	return nil
}
