package storage

import (
	"context"
	"fmt"
	"io"
)

// CheckSize returns a reader that yields the bytes of r and fails with an
// error wrapping ErrSizeMismatch when r ends before size bytes or holds
// more than size bytes. The surplus check happens when the last declared
// bytes are read, and on surplus those bytes are withheld, so a consumer
// that stops after exactly size bytes (as S3 clients do) never receives
// the full declared length and cannot commit it.
// With size < 0 it returns r unchanged. Errors from r pass through. A
// consumer that reads nothing when size is 0 must check emptiness itself.
func CheckSize(r io.Reader, size int64) io.Reader {
	if size < 0 {
		return r
	}
	return &sizeChecked{r: r, size: size, left: size}
}

type sizeChecked struct {
	r    io.Reader
	size int64
	left int64
	err  error // sticky: io.EOF after a clean end, or the failure
}

func (s *sizeChecked) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.left == 0 {
		s.err = s.probeEnd()
		return 0, s.err
	}
	if int64(len(p)) > s.left {
		p = p[:s.left]
	}
	n, err := s.r.Read(p)
	s.left -= int64(n)
	switch {
	case err == io.EOF && s.left > 0:
		s.err = fmt.Errorf("%w: stream ended after %d of %d bytes", ErrSizeMismatch, s.size-s.left, s.size)
		return n, s.err
	case err != nil && err != io.EOF:
		s.err = err
		return n, err
	case s.left == 0:
		s.err = s.probeEnd()
		if s.err == io.EOF {
			return n, nil // the next Read reports io.EOF
		}
		// Withhold the last bytes: a consumer that counts to size must
		// not be able to complete (an HTTP body of Content-Length size
		// would be committed by the server even though we fail).
		return 0, s.err
	}
	return n, nil
}

// probeEnd reads past the declared end: it must find io.EOF.
func (s *sizeChecked) probeEnd() error {
	var b [1]byte
	for i := 0; i < 100; i++ {
		n, err := s.r.Read(b[:])
		if n > 0 {
			return fmt.Errorf("%w: stream holds more than the declared %d bytes", ErrSizeMismatch, s.size)
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

// ContextReader returns a reader that fails with ctx's error once ctx is
// done, checked before every Read of r. Backends wrap upload streams in it
// so that a cancelled upload stops at the next chunk even when the client
// library would first fill a whole part buffer.
func ContextReader(ctx context.Context, r io.Reader) io.Reader {
	return &ctxReader{ctx: ctx, r: r}
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
