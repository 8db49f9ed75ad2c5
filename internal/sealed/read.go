package sealed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/mediarepo/mediarepo/internal/storage"
)

// Get returns length plaintext bytes from offset (storage.Store
// semantics). A whole-blob read (0, -1) is one backend read of the whole
// blob. A range costs a backend Stat and one ranged read of the header
// and the segments it covers (two reads when it starts past the first
// segment); only those segments are fetched and decrypted. Data is
// released only after its segment authenticated; a blob that does not
// authenticate fails with ErrTampered (at Get or at a Read), one under an
// unknown master key with ErrUnknownKey. Past its first MiB a read is
// pipelined (readahead.go): the next segments are decrypted while the
// caller consumes the previous ones.
func (s *Store) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := storage.ValidateKey(key); err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fmt.Errorf("sealed: get %s: offset %d: %w", key, offset, storage.ErrInvalidRange)
	}
	if offset == 0 && length < 0 {
		return pipelined(s.getAll(ctx, key))
	}
	info, err := s.backend.Stat(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("sealed: %w", err)
	}
	size, err := plainSize(key, info.Size)
	if err != nil {
		return nil, err
	}
	if offset > size {
		return nil, fmt.Errorf("sealed: get %s: offset %d of %d bytes: %w", key, offset, size, storage.ErrInvalidRange)
	}
	if size == 0 {
		return s.getAll(ctx, key) // checks that the header vouches for empty
	}
	end := size
	if length >= 0 && length < size-offset {
		end = offset + length
	}
	if offset == end {
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	return pipelined(s.getRange(ctx, key, offset, end, size, info.Size))
}

// getAll streams the whole blob from one backend read.
func (s *Store) getAll(ctx context.Context, key string) (io.ReadCloser, error) {
	rc, err := s.backend.Get(ctx, key, 0, -1)
	if err != nil {
		return nil, fmt.Errorf("sealed: %w", err)
	}
	h, dataKey, err := s.readHeader(key, rc)
	if err != nil {
		_ = rc.Close()
		return nil, err
	}
	if !h.nonEmpty {
		// The header vouches for an empty plaintext: nothing may follow.
		n, err := rc.Read(make([]byte, 1))
		_ = rc.Close()
		if n > 0 {
			return nil, fmt.Errorf("%w: %s: data after the header of an empty blob", ErrTampered, key)
		}
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("sealed: get %s: %w", key, err)
		}
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	return newPlainReader(key, rc, dataKey, 0, 0, -1), nil
}

// getRange streams plaintext [offset, end) of a blob whose plaintext has
// size bytes and whose sealed form has sealed bytes.
func (s *Store) getRange(ctx context.Context, key string, offset, end, size, sealed int64) (io.ReadCloser, error) {
	first, last := offset/SegmentSize, (end-1)/SegmentSize
	from := HeaderSize + first*packageSize
	to := min(HeaderSize+(last+1)*packageSize, sealed)
	var rc io.ReadCloser
	var dataKey []byte
	var h header
	var err error
	if first == 0 {
		// Header and segments are adjacent: one read.
		if rc, err = s.backend.Get(ctx, key, 0, to); err != nil {
			return nil, fmt.Errorf("sealed: %w", err)
		}
		if h, dataKey, err = s.readHeader(key, rc); err != nil {
			_ = rc.Close()
			return nil, err
		}
	} else {
		hrc, err := s.backend.Get(ctx, key, 0, HeaderSize)
		if err != nil {
			return nil, fmt.Errorf("sealed: %w", err)
		}
		h, dataKey, err = s.readHeader(key, hrc)
		_ = hrc.Close()
		if err != nil {
			return nil, err
		}
		if rc, err = s.backend.Get(ctx, key, from, to-from); err != nil {
			return nil, fmt.Errorf("sealed: %w", err)
		}
	}
	if !h.nonEmpty {
		_ = rc.Close()
		return nil, fmt.Errorf("%w: %s: data after the header of an empty blob", ErrTampered, key)
	}
	limit := end - offset
	pr := newPlainReader(key, rc, dataKey, uint32(first), offset-first*SegmentSize, limit)
	pr.mustEnd = end == size
	return pr, nil
}

// readHeader reads and authenticates the header at the start of r.
func (s *Store) readHeader(key string, r io.Reader) (header, []byte, error) {
	raw := make([]byte, HeaderSize)
	if n, err := io.ReadFull(r, raw); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return header{}, nil, fmt.Errorf("%w: %s: %d bytes, shorter than a header", ErrTampered, key, n)
		}
		return header{}, nil, fmt.Errorf("sealed: get %s: %w", key, err)
	}
	h, err := parseHeader(raw)
	if err != nil {
		return h, nil, fmt.Errorf("%s: %w", key, err)
	}
	dataKey, err := s.keys.openHeader(h)
	if err != nil {
		return h, nil, fmt.Errorf("%s: %w", key, err)
	}
	return h, dataKey, nil
}

// plainReader decrypts segments from body, drops skip bytes, then yields
// left bytes (all when left < 0). With mustEnd it also checks that the
// stream ends right after them, in an authenticated final segment.
type plainReader struct {
	key     string
	body    io.Closer
	dec     *segmentReader
	skip    int64
	left    int64
	mustEnd bool
	err     error
}

func newPlainReader(key string, body io.ReadCloser, dataKey []byte, seq uint32, skip, left int64) *plainReader {
	body = newReadAhead(body) // reading the ciphertext is a stage of its own
	return &plainReader{key: key, body: body, dec: newSegmentReader(body, dataKey, seq), skip: skip, left: left}
}

func (r *plainReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.skip > 0 {
		if _, err := io.CopyN(io.Discard, r.dec, r.skip); err != nil {
			return 0, r.fail(err)
		}
		r.skip = 0
	}
	if r.left == 0 {
		if r.mustEnd {
			n, err := r.dec.Read(make([]byte, 1))
			if n > 0 || err != io.EOF {
				if err == nil || err == io.EOF {
					err = errors.New("more data than its size says")
				}
				return 0, r.fail(err)
			}
		}
		r.err = io.EOF
		return 0, io.EOF
	}
	if r.left > 0 && int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.dec.Read(p)
	if r.left > 0 {
		r.left -= int64(n)
	}
	switch {
	case err == io.EOF && r.left > 0:
		return n, r.fail(io.ErrUnexpectedEOF)
	case err == io.EOF:
		r.err = io.EOF
	case err != nil:
		return n, r.fail(err)
	}
	return n, err
}

// fail records err, mapping DARE's authentication errors to ErrTampered.
func (r *plainReader) fail(err error) error {
	switch {
	case errors.Is(err, ErrTampered):
		r.err = fmt.Errorf("%s: %w", r.key, err)
	case err == io.ErrUnexpectedEOF || err == io.EOF:
		r.err = fmt.Errorf("%w: %s: %v", ErrTampered, r.key, err)
	default:
		r.err = fmt.Errorf("sealed: read %s: %w", r.key, err)
	}
	return r.err
}

// Close closes the backend stream and gives the segment buffer back.
func (r *plainReader) Close() error {
	_ = r.dec.Close()
	return r.body.Close()
}
