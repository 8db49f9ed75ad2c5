package worker

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/mediarepo/mediarepo/internal/scan"
	"github.com/mediarepo/mediarepo/internal/sealed"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

// countingGetter counts the Gets that reach the sealed store.
type countingGetter struct {
	Getter
	gets atomic.Int64
}

func (c *countingGetter) Get(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	c.gets.Add(1)
	return c.Getter.Get(ctx, key, off, n)
}

func sealedBlob(t *testing.T, data []byte) *sealed.Store {
	t.Helper()
	s := sealed.New(newFSBackend(t), testKeyring(t))
	if err := s.Put(context.Background(), "media/x", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestReaderAtRandomReads: every range reads back the stored bytes.
func TestReaderAtRandomReads(t *testing.T) {
	data := testenv.Random(300 << 10)
	ra := newBlobReaderAt(context.Background(), sealedBlob(t, data), "media/x", int64(len(data)))
	defer ra.Close()
	for range 200 {
		off := rand.Int64N(int64(len(data)) + 10)
		p := make([]byte, rand.IntN(100<<10))
		n, err := ra.ReadAt(p, off)
		want := data[min(off, int64(len(data))):]
		want = want[:min(len(want), len(p))]
		if n != len(want) || !bytes.Equal(p[:n], want) {
			t.Fatalf("ReadAt(%d bytes at %d) = %d bytes, want %d", len(p), off, n, len(want))
		}
		if n < len(p) && err != io.EOF {
			t.Fatalf("short read at %d without io.EOF: %v", off, err)
		}
	}
}

// TestReaderAtEnginePassIsOneStream: inspection plus the engine's pass
// over a non-zip file cost the store one stream and the tail reads of
// the zip check, not a Get per chunk; the SHA-256 is verified.
func TestReaderAtEnginePassIsOneStream(t *testing.T) {
	data := testenv.Random(2 << 20)
	g := &countingGetter{Getter: sealedBlob(t, data)}
	ra := newBlobReaderAt(context.Background(), g, "media/x", int64(len(data)))
	defer ra.Close()
	inspector, err := scan.NewArchiveInspector(scan.DefaultArchiveLimits())
	if err != nil {
		t.Fatal(err)
	}
	checker := scan.Checker{Inspector: inspector, Scanner: newClamd(t, testenv.ClamdAddr(t))}
	v, err := checker.ScanAt(context.Background(), ra, int64(len(data)))
	if err != nil || v.Result != scan.ResultClean {
		t.Fatalf("%+v %v", v, err)
	}
	if n := g.gets.Load(); n > 4 {
		t.Fatalf("%d Gets for one scan of a 2 MiB blob, want at most 4", n)
	}
	if err := ra.Verify(sum(data)); err != nil {
		t.Fatal(err)
	}
	if err := ra.Verify(sum([]byte("other"))); err == nil {
		t.Fatal("Verify accepted another SHA-256")
	}
}
