package sealed

import (
	"errors"
	"io"
	"sync"
)

// Long reads are pipelined: once a reader has handed out readAheadAfter
// bytes, a goroutine reads and decrypts the next chunks while the caller
// writes the previous ones out (to a socket, typically). Reading and
// decrypting a segment cost about as much CPU as sending it, so with two
// cores a large download runs on both instead of one (issue 18: the
// profile of a 100 MiB download on the filesystem store was 40 %
// AES-GCM, 13 % copying from the page cache, 12 % copying into the
// socket plus the kernel's TCP work, all on the handler's goroutine).
// Short reads (most chat media) never start the goroutine.
const (
	readAheadAfter = 1 << 20
	// readAheadChunk is what the goroutine decrypts at once: several
	// whole segments, so DARE decrypts straight into the chunk.
	readAheadChunk = 4 * SegmentSize
	// readAheadChunks bound what one read holds: one chunk being
	// consumed, one ready, one being decrypted.
	readAheadChunks = 3
)

var errClosed = errors.New("sealed: read after close")

// pipelined wraps the reader of a successful Get in a readAhead.
func pipelined(rc io.ReadCloser, err error) (io.ReadCloser, error) {
	if err != nil {
		return nil, err
	}
	return newReadAhead(rc), nil
}

// readAhead wraps the plaintext reader of a Get. Its data and errors are
// exactly the wrapped reader's, in the same order.
type readAhead struct {
	src  io.ReadCloser
	sent int64 // bytes handed out before the goroutine started

	started bool
	ready   chan chunk    // filled chunks, in order
	free    chan []byte   // buffers to fill
	done    chan struct{} // closed by Close: the goroutine stops
	once    sync.Once

	cur chunk
	off int
}

// chunk is a filled buffer: data, then the error that ended the fill.
type chunk struct {
	buf []byte
	n   int
	err error
}

func newReadAhead(src io.ReadCloser) *readAhead {
	return &readAhead{src: src, done: make(chan struct{})}
}

func (r *readAhead) Read(p []byte) (int, error) {
	select {
	case <-r.done:
		return 0, errClosed
	default:
	}
	if !r.started {
		if r.sent < readAheadAfter {
			n, err := r.src.Read(p)
			r.sent += int64(n)
			return n, err
		}
		r.start()
	}
	for r.off == r.cur.n {
		if r.cur.err != nil {
			return 0, r.cur.err
		}
		if r.cur.buf != nil {
			r.free <- r.cur.buf // never blocks: free holds every buffer
		}
		select {
		case r.cur = <-r.ready:
			r.off = 0
		case <-r.done:
			return 0, errClosed
		}
	}
	n := copy(p, r.cur.buf[r.off:r.cur.n])
	r.off += n
	return n, nil
}

func (r *readAhead) start() {
	r.started = true
	r.ready = make(chan chunk, readAheadChunks)
	r.free = make(chan []byte, readAheadChunks)
	for range readAheadChunks {
		r.free <- make([]byte, readAheadChunk)
	}
	go r.fill()
}

// fill owns src once started: it reads chunks until an error or io.EOF
// or until Close, then closes src. A read blocked in the backend ends
// with the request's context.
func (r *readAhead) fill() {
	defer func() { _ = r.src.Close() }()
	for {
		var buf []byte
		select {
		case buf = <-r.free:
		case <-r.done:
			return
		}
		c := chunk{buf: buf}
		for c.n < len(buf) && c.err == nil {
			var m int
			m, c.err = r.src.Read(buf[c.n:])
			c.n += m
		}
		select {
		case r.ready <- c:
		case <-r.done:
			return
		}
		if c.err != nil {
			return
		}
	}
}

// Close stops the read. Before the goroutine started it closes the
// backend stream itself; after, the goroutine closes it on its way out.
func (r *readAhead) Close() error {
	var err error
	r.once.Do(func() {
		close(r.done)
		if !r.started {
			err = r.src.Close()
		}
	})
	return err
}
