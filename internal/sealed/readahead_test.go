package sealed_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/sealed"
	"github.com/mediarepo/mediarepo/internal/storage"
)

// bigBlob is long enough that reads of it are pipelined (past the first
// MiB) over many chunks, and ends in a short final segment.
const bigBlob = 5<<20 + 12345

// TestLongReadsRoundTrip reads long blobs whole and in ranges, with read
// sizes below, at and above the segment size, and gets the plaintext.
func TestLongReadsRoundTrip(t *testing.T) {
	f := newFixture(t)
	data := randomBytes(t, bigBlob)
	f.seal("big", data)
	for _, bufSize := range []int{1, 4 << 10, sealed.SegmentSize, 256 << 10, 3 << 20} {
		for _, r := range [][2]int64{{0, -1}, {100, -1}, {3 << 20, 1 << 20}, {sealed.SegmentSize - 1, 2<<20 + 1}, {bigBlob - 1, -1}} {
			rc, err := f.s.Get(context.Background(), "big", r[0], r[1])
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(chunked(rc, bufSize))
			_ = rc.Close()
			end := int64(len(data))
			if r[1] >= 0 {
				end = r[0] + r[1]
			}
			if err != nil || !bytes.Equal(got, data[r[0]:end]) {
				t.Fatalf("reads of %d bytes, range %v: %d bytes, err %v; want %d bytes", bufSize, r, len(got), err, end-r[0])
			}
		}
	}
}

// chunked reads through a buffer of exactly n bytes per Read.
func chunked(r io.Reader, n int) io.Reader {
	return readerFunc(func(p []byte) (int, error) { return r.Read(p[:min(len(p), n)]) })
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// TestLongReadsFailLate checks that tampering far into a long blob
// (past the point where reads are pipelined) is reported as ErrTampered
// after exactly the data before the bad segment, never with its bytes.
func TestLongReadsFailLate(t *testing.T) {
	f := newFixture(t)
	data := randomBytes(t, bigBlob)
	raw := f.seal("big", data)
	const bad = 40 // segment index, 2.5 MiB in
	flipped := bytes.Clone(raw)
	flipped[sealed.HeaderSize+bad*pkg+100] ^= 1
	put(t, f.backend, "flipped", flipped)
	rc, err := f.s.Get(context.Background(), "flipped", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	_ = rc.Close()
	if !errors.Is(err, sealed.ErrTampered) {
		t.Fatalf("err %v, want ErrTampered", err)
	}
	if len(got) > bad*sealed.SegmentSize || !bytes.Equal(got, data[:len(got)]) {
		t.Fatalf("released %d bytes (the bad segment starts at %d), or bytes that differ", len(got), bad*sealed.SegmentSize)
	}
	f.requireRejected("truncated long blob", "truncated", raw[:len(raw)-pkg], [2]int64{2 << 20, -1})
}

// closeCounter counts Close calls of the backend's readers.
type closeCounter struct {
	storage.Store
	open atomic.Int64
}

func (c *closeCounter) Get(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	rc, err := c.Store.Get(ctx, key, off, length)
	if err != nil {
		return nil, err
	}
	c.open.Add(1)
	return &countedCloser{ReadCloser: rc, c: c}, nil
}

type countedCloser struct {
	io.ReadCloser
	c    *closeCounter
	once atomic.Bool
}

func (r *countedCloser) Close() error {
	if r.once.CompareAndSwap(false, true) {
		r.c.open.Add(-1)
	}
	return r.ReadCloser.Close()
}

// TestLongReadClosedEarlyReleasesTheBlob closes a pipelined read in the
// middle and after a cancelled context: the backend's reader is closed
// (by the goroutine, which stops), and a Read after Close fails.
func TestLongReadClosedEarlyReleasesTheBlob(t *testing.T) {
	backend := &closeCounter{Store: newFS(t)}
	s := sealed.New(backend, keyring(t, "k1"))
	put(t, s, "big", randomBytes(t, bigBlob))
	for _, cancelFirst := range []bool{false, true} {
		ctx, cancel := context.WithCancel(context.Background())
		rc, err := s.Get(ctx, "big", 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.CopyN(io.Discard, rc, 2<<20); err != nil {
			t.Fatal(err)
		}
		if cancelFirst {
			cancel()
		}
		if err := rc.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := rc.Read(make([]byte, 10)); err == nil {
			t.Error("Read after Close succeeded")
		}
		deadline := time.Now().Add(10 * time.Second)
		for backend.open.Load() != 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if n := backend.open.Load(); n != 0 {
			t.Fatalf("cancel first %v: %d backend readers still open after Close", cancelFirst, n)
		}
		cancel()
	}
}

// TestWriteToRoundTripsAndFailsLate hands whole reads to WriteTo (what
// the download handler does): short and long blobs and ranges arrive
// whole; tampering past the pipelined first MiB fails with ErrTampered
// after only authentic bytes; a failing writer's error comes back and
// Close still releases the backend's reader.
func TestWriteToRoundTripsAndFailsLate(t *testing.T) {
	backend := &closeCounter{Store: newFS(t)}
	s := sealed.New(backend, keyring(t, "k1"))
	data := randomBytes(t, bigBlob)
	put(t, s, "big", data)
	put(t, s, "small", data[:1000])
	writeTo := func(key string, off, n int64, w io.Writer) (int64, error) {
		t.Helper()
		rc, err := s.Get(context.Background(), key, off, n)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		wt, ok := rc.(io.WriterTo)
		if !ok {
			t.Fatalf("the reader of %s has no WriteTo", key)
		}
		return wt.WriteTo(w)
	}
	for _, c := range []struct {
		key    string
		off, n int64
		want   []byte
	}{
		{"small", 0, -1, data[:1000]},
		{"big", 0, -1, data},
		{"big", 0, 1 << 20, data[:1<<20]},
		{"big", 12345, 3 << 20, data[12345 : 12345+3<<20]},
	} {
		var got bytes.Buffer
		n, err := writeTo(c.key, c.off, c.n, &got)
		if err != nil || n != int64(len(c.want)) || !bytes.Equal(got.Bytes(), c.want) {
			t.Fatalf("%s [%d,+%d): wrote %d (%d), err %v; want %d bytes", c.key, c.off, c.n, n, got.Len(), err, len(c.want))
		}
	}

	raw, err := read(backend, "big", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	const bad = 40 // segment index, 2.5 MiB in
	raw[sealed.HeaderSize+bad*pkg+7] ^= 1
	put(t, backend, "flipped", raw)
	var got bytes.Buffer
	if _, err := writeTo("flipped", 0, -1, &got); !errors.Is(err, sealed.ErrTampered) {
		t.Fatalf("tampered: err %v, want ErrTampered", err)
	}
	if got.Len() > bad*sealed.SegmentSize || !bytes.Equal(got.Bytes(), data[:got.Len()]) {
		t.Fatalf("tampered: wrote %d bytes (the bad segment starts at %d), or bytes that differ", got.Len(), bad*sealed.SegmentSize)
	}

	boom := errors.New("client gone")
	for _, after := range []int{0, 3 << 20} { // in the serial part, in the pipelined one
		w := &failingWriter{left: after, err: boom}
		if _, err := writeTo("big", 0, -1, w); !errors.Is(err, boom) {
			t.Fatalf("writer failing after %d bytes: err %v, want its error", after, err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for backend.open.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := backend.open.Load(); n != 0 {
		t.Fatalf("%d backend readers still open after Close", n)
	}
}

// failingWriter accepts left bytes, then fails.
type failingWriter struct {
	left int
	err  error
}

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.left {
		n := w.left
		w.left = 0
		return n, w.err
	}
	w.left -= len(p)
	return len(p), nil
}
