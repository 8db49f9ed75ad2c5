package scan

import (
	"context"
	"errors"
	"io"
)

// fanChunk is one piece of the content for one engine; err is io.EOF
// after the last piece, or the source's error.
type fanChunk struct {
	b   []byte
	err error
}

// fanStream is one engine's view of the fanned-out content: an io.Reader
// fed by fanOut. done is closed when the engine has answered; fanOut then
// stops feeding it.
type fanStream struct {
	ch   chan fanChunk
	done chan struct{}
	cur  []byte
	err  error
}

// readerFailure marks the source's error as it reaches an engine, so that
// Engines.Scan returns the source's own error rather than an engine's.
type readerFailure struct{ err error }

func (e *readerFailure) Error() string { return "reading the content: " + e.err.Error() }
func (e *readerFailure) Unwrap() error { return e.err }

// Read implements io.Reader.
func (s *fanStream) Read(p []byte) (int, error) {
	for len(s.cur) == 0 {
		if s.err != nil {
			return 0, s.err
		}
		c, ok := <-s.ch
		if !ok {
			s.err = io.ErrUnexpectedEOF // never: fanOut always ends with an error
			continue
		}
		s.cur = c.b
		if c.err != nil {
			s.err = c.err
			if !errors.Is(c.err, io.EOF) {
				s.err = &readerFailure{c.err}
			}
		}
	}
	n := copy(p, s.cur)
	s.cur = s.cur[n:]
	return n, nil
}

// fanOut reads r to its end in chunks and hands every chunk to every
// stream whose engine is still reading, then io.EOF (or r's error). A
// chunk is shared read-only by the streams, so each is a new buffer. It
// returns r's error, or ctx's when cancelled.
func fanOut(ctx context.Context, r io.Reader, streams []*fanStream, chunk int) error {
	defer func() {
		for _, s := range streams {
			close(s.ch)
		}
	}()
	for {
		buf := make([]byte, chunk)
		n, err := io.ReadFull(r, buf)
		c := fanChunk{b: buf[:n]}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			c.err = io.EOF
		default:
			c.err = err
		}
		for _, s := range streams {
			select {
			case s.ch <- c:
			case <-s.done: // answered already: no longer reading
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if c.err != nil {
			if errors.Is(c.err, io.EOF) {
				return nil
			}
			return c.err
		}
	}
}
