package sealed_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/mediarepo/mediarepo/internal/sealed"
	"github.com/mediarepo/mediarepo/internal/storage"
	"github.com/mediarepo/mediarepo/internal/storage/fs"
	"github.com/mediarepo/mediarepo/internal/storage/storagetest"
)

// keyring returns a keyring of fresh random keys; the last ID is current.
func keyring(t testing.TB, ids ...string) *sealed.Keyring {
	t.Helper()
	keys := map[string][]byte{}
	for _, id := range ids {
		keys[id] = randomBytes(t, sealed.KeySize)
	}
	kr, err := sealed.NewKeyring(ids[len(ids)-1], keys)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func newFS(t testing.TB) *fs.Store {
	t.Helper()
	s, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func put(t testing.TB, s storage.Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(context.Background(), key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("Put %s: %v", key, err)
	}
}

// read returns the bytes of a ranged Get, or the first error of Get or
// of reading.
func read(s storage.Store, key string, off, length int64) ([]byte, error) {
	rc, err := s.Get(context.Background(), key, off, length)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rc.Close() }()
	return io.ReadAll(rc)
}

func TestConformanceOverFS(t *testing.T) {
	kr := keyring(t, "k1")
	storagetest.Run(t, func(t *testing.T) storage.Store { return sealed.New(newFS(t), kr) })
}

// Every range around segment edges, for sizes around segment edges.
func TestRangesAroundSegmentEdges(t *testing.T) {
	const seg = sealed.SegmentSize
	s := sealed.New(newFS(t), keyring(t, "k1"))
	sizes := []int64{1, 2, seg - 1, seg, seg + 1, 2 * seg, 2*seg + 1, 3*seg - 1, 3 * seg}
	for _, size := range sizes {
		data := randomBytes(t, int(size))
		key := fmt.Sprintf("edges/%d", size)
		put(t, s, key, data)
		var offsets []int64
		for _, o := range []int64{0, 1, seg - 1, seg, seg + 1, 2*seg - 1, 2 * seg, 2*seg + 1, size - 1, size} {
			if o >= 0 && o <= size {
				offsets = append(offsets, o)
			}
		}
		for _, off := range offsets {
			for _, length := range []int64{-1, 0, 1, 2, seg - 1, seg, seg + 1, 2 * seg, size - off, size - off + 1} {
				got, err := read(s, key, off, length)
				if err != nil {
					t.Fatalf("size %d: Get [%d,+%d): %v", size, off, length, err)
				}
				end := size
				if length >= 0 && off+length < size {
					end = off + length
				}
				if !bytes.Equal(got, data[off:end]) {
					t.Fatalf("size %d: Get [%d,+%d): got %d bytes, want %d", size, off, length, len(got), end-off)
				}
			}
		}
		if _, err := read(s, key, size+1, -1); !errors.Is(err, storage.ErrInvalidRange) {
			t.Errorf("size %d: Get past the end: got %v, want ErrInvalidRange", size, err)
		}
	}
}

// countingStore is a real store that records the byte ranges read from it.
type countingStore struct {
	storage.Store
	mu    sync.Mutex
	reads [][2]int64
}

func (c *countingStore) Get(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	c.mu.Lock()
	c.reads = append(c.reads, [2]int64{off, length})
	c.mu.Unlock()
	return c.Store.Get(ctx, key, off, length)
}

// A small range deep in a large blob fetches the header and the one
// segment holding it, nothing else.
func TestRangeFetchesOnlyItsSegments(t *testing.T) {
	backend := &countingStore{Store: newFS(t)}
	s := sealed.New(backend, keyring(t, "k1"))
	data := randomBytes(t, 20*sealed.SegmentSize+123)
	put(t, s, "big", data)
	off := int64(7*sealed.SegmentSize + 100)
	got, err := read(s, "big", off, 10)
	if err != nil || !bytes.Equal(got, data[off:off+10]) {
		t.Fatalf("ranged read: %v", err)
	}
	var fetched int64
	for _, r := range backend.reads {
		if r[1] < 0 {
			t.Fatalf("ranged read fetched to the end: %v", backend.reads)
		}
		fetched += r[1]
	}
	if want := int64(sealed.HeaderSize + sealed.SegmentSize + 32); fetched != want {
		t.Errorf("fetched %d sealed bytes in %v, want %d (header + one segment)", fetched, backend.reads, want)
	}
	// Across a segment edge: two segments.
	backend.reads = nil
	off = 3*sealed.SegmentSize - 5
	if got, err = read(s, "big", off, 10); err != nil || !bytes.Equal(got, data[off:off+10]) {
		t.Fatalf("ranged read across an edge: %v", err)
	}
	fetched = 0
	for _, r := range backend.reads {
		fetched += r[1]
	}
	if want := int64(sealed.HeaderSize + 2*(sealed.SegmentSize+32)); fetched != want {
		t.Errorf("fetched %d sealed bytes in %v, want %d (header + two segments)", fetched, backend.reads, want)
	}
}

// The backend holds ciphertext of the predicted size: no plaintext run
// survives, two blobs of the same plaintext differ.
func TestBackendHoldsCiphertext(t *testing.T) {
	backend := newFS(t)
	s := sealed.New(backend, keyring(t, "k1"))
	plain := bytes.Repeat([]byte("attack at dawn. "), 10000)
	put(t, s, "a", plain)
	put(t, s, "b", plain)
	rawA, errA := read(backend, "a", 0, -1)
	rawB, errB := read(backend, "b", 0, -1)
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	want, err := sealed.SealedSize(int64(len(plain)))
	if err != nil || int64(len(rawA)) != want {
		t.Errorf("sealed size %d, SealedSize says %d (%v)", len(rawA), want, err)
	}
	if bytes.Contains(rawA, []byte("attack at dawn")) {
		t.Error("plaintext visible in the stored blob")
	}
	if bytes.Equal(rawA[sealed.HeaderSize:], rawB[sealed.HeaderSize:]) {
		t.Error("two blobs of the same plaintext have the same ciphertext")
	}
	info, err := s.Stat(context.Background(), "a")
	if err != nil || info.Size != int64(len(plain)) {
		t.Errorf("Stat: %+v, %v; want plaintext size %d", info, err, len(plain))
	}
}

// A client that hangs up mid-body shows up as io.ErrUnexpectedEOF from the
// request body; DARE would take that for the end of the stream, so it must
// fail the Put instead of storing a short blob.
func TestUnexpectedEOFFromSourceFailsPut(t *testing.T) {
	s := sealed.New(newFS(t), keyring(t, "k1"))
	src := io.MultiReader(bytes.NewReader(randomBytes(t, 100_000)), errReader{io.ErrUnexpectedEOF})
	err := s.Put(context.Background(), "short", src, -1)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Put from a broken stream: got %v, want io.ErrUnexpectedEOF", err)
	}
	if _, err := s.Stat(context.Background(), "short"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat after a broken upload: %v", err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// Move keeps the ciphertext and the blob opens under its new key.
func TestMoveKeepsBlobReadable(t *testing.T) {
	backend := newFS(t)
	s := sealed.New(backend, keyring(t, "k1"))
	data := randomBytes(t, 3*sealed.SegmentSize+7)
	put(t, s, "media/x", data)
	before, _ := read(backend, "media/x", 0, -1)
	if err := s.Move(context.Background(), "media/x", "quarantine/x"); err != nil {
		t.Fatal(err)
	}
	after, _ := read(backend, "quarantine/x", 0, -1)
	if !bytes.Equal(before, after) {
		t.Error("Move changed the sealed bytes")
	}
	if got, err := read(s, "quarantine/x", 0, -1); err != nil || !bytes.Equal(got, data) {
		t.Errorf("moved blob: %v", err)
	}
	if got, err := read(s, "quarantine/x", sealed.SegmentSize+3, 100); err != nil || !bytes.Equal(got, data[sealed.SegmentSize+3:sealed.SegmentSize+103]) {
		t.Errorf("range of moved blob: %v", err)
	}
	if _, err := s.Stat(context.Background(), "media/x"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("source after Move: %v", err)
	}
	if err := s.Move(context.Background(), "media/missing", "quarantine/y"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Move of a missing blob: %v", err)
	}
}
