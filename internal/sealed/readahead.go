package sealed

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
)

// Long reads are pipelined: once a reader has handed out readAheadAfter
// bytes (by Read or WriteTo), a goroutine reads and decrypts the next
// chunks while the caller writes the previous ones out (to a socket, typically). Reading
// and decrypting a segment cost about as much CPU as sending it, so with
// two cores a large download runs on both instead of one (issue 18: the
// profile of a 100 MiB download on the filesystem store was 40 %
// AES-GCM, 13 % copying from the page cache, 12 % copying into the
// socket plus the kernel's TCP work, all on the handler's goroutine; a
// 1 MB download on S3 waited for MinIO's first byte, then read, decrypted
// and wrote serially, but pipelining it from its first byte made it no
// faster here). Short reads (most chat media) never start the goroutine.
const (
	readAheadAfter = 1 << 20
	// readAheadChunk is what the goroutine decrypts at once: several
	// whole segments, so segments are decrypted straight into the chunk.
	readAheadChunk = 4 * SegmentSize
	// readAheadChunks bound what one read holds: one chunk being
	// consumed, one ready, one being decrypted.
	readAheadChunks = 3
)

var errClosed = errors.New("sealed: read after close")

// chunkBuffers holds readAheadChunk buffers between reads (allocating
// 768 KiB per large download fed the garbage collector).
var chunkBuffers = sync.Pool{New: func() any { return new([readAheadChunk]byte) }}

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
	// owners counts who may still touch the buffers (the caller until
	// Close, the goroutine until it returns); the last one pools them.
	owners atomic.Int32

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
	if err := r.next(); err != nil {
		return 0, err
	}
	n := copy(p, r.cur.buf[r.off:r.cur.n])
	r.off += n
	return n, nil
}

// next makes r.cur a chunk with unread data, or returns the error that
// ended the read.
func (r *readAhead) next() error {
	for r.off == r.cur.n {
		if r.cur.err != nil {
			return r.cur.err
		}
		if r.cur.buf != nil {
			r.free <- r.cur.buf // never blocks: free holds every buffer
		}
		select {
		case r.cur = <-r.ready:
			r.off = 0
		case <-r.done:
			return errClosed
		}
	}
	return nil
}

// WriteTo writes the rest of the read to w: like Read, the first
// readAheadAfter bytes serially, each segment decrypted into a pooled
// buffer and written from it, the rest pipelined, each chunk written
// from the buffer it was decrypted into. It returns the first error of
// the read or of w.
func (r *readAhead) WriteTo(w io.Writer) (int64, error) {
	select {
	case <-r.done:
		return 0, errClosed
	default:
	}
	var total int64
	if !r.started {
		n, done, err := r.writeSerially(w)
		total += n
		if err != nil || done {
			return total, err
		}
		r.start()
	}
	for {
		if err := r.next(); err != nil {
			if err == io.EOF {
				return total, nil
			}
			return total, err
		}
		n, err := w.Write(r.cur.buf[r.off:r.cur.n])
		r.off += n
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
}

// writeSerially copies from src to w until src ends (done) or
// readAheadAfter bytes were handed out. Pipelining smaller reads cost more than it won
// on two cores shared with MinIO and the client (issue 18: 1 MB
// downloads at concurrency 1 were no faster, and each took more CPU).
func (r *readAhead) writeSerially(w io.Writer) (total int64, done bool, err error) {
	buf := chunkBuffers.Get().(*[readAheadChunk]byte)
	defer chunkBuffers.Put(buf)
	for r.sent < readAheadAfter {
		// Whole chunks: writing each 64 KiB segment on its own cost the
		// client and mediarepo a wake-up each (1 MB downloads took 40 %
		// more CPU on both sides).
		n, rerr := fillChunk(r.src, buf[:])
		r.sent += int64(n)
		if n > 0 {
			m, werr := w.Write(buf[:n])
			total += int64(m)
			if werr != nil {
				return total, true, werr
			}
		}
		if rerr == io.EOF {
			return total, true, nil
		}
		if rerr != nil {
			return total, true, rerr
		}
	}
	return total, false, nil
}

func (r *readAhead) start() {
	r.started = true
	r.ready = make(chan chunk, readAheadChunks)
	r.free = make(chan []byte, readAheadChunks)
	for range readAheadChunks {
		r.free <- chunkBuffers.Get().(*[readAheadChunk]byte)[:]
	}
	r.owners.Store(2)
	go r.fill()
}

// fill owns src once started: it reads chunks until an error or io.EOF
// or until Close, then closes src. A read blocked in the backend ends
// with the request's context.
func (r *readAhead) fill() {
	defer r.release()
	defer func() { _ = r.src.Close() }()
	for {
		var buf []byte
		select {
		case buf = <-r.free:
		case <-r.done:
			return
		}
		c := chunk{buf: buf}
		c.n, c.err = fillChunk(r.src, buf)
		select {
		case r.ready <- c:
		case <-r.done:
			r.free <- buf // never blocks: free holds every buffer
			return
		}
		if c.err != nil {
			return
		}
	}
}

// fillChunk reads from src until buf is full or src fails or ends.
func fillChunk(src io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := src.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// release pools the chunk buffers once neither the caller nor the
// goroutine can touch them: they are then all in free, in ready or cur.
func (r *readAhead) release() {
	if r.owners.Add(-1) != 0 {
		return
	}
	pool := func(b []byte) {
		if b != nil {
			chunkBuffers.Put((*[readAheadChunk]byte)(b))
		}
	}
	pool(r.cur.buf)
	r.cur = chunk{}
	for {
		select {
		case b := <-r.free:
			pool(b)
		case c := <-r.ready:
			pool(c.buf)
		default:
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
			return
		}
		r.release()
	})
	return err
}
