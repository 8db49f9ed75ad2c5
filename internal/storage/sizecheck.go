package storage

import (
	"fmt"
	"io"
)

// CheckSize returns a reader that yields the bytes of r and fails with an
// error wrapping ErrSizeMismatch when r ends before size bytes or holds
// more than size bytes. The surplus check happens as the last declared
// byte is read, before that read returns, so a consumer that stops after
// exactly size bytes (as S3 clients do) still sees the error and aborts.
// With size < 0 it returns r unchanged. Errors from r pass through.
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
		return n, s.err
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
