package storagetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"testing"

	"github.com/mediarepo/mediarepo/internal/storage"
)

// fillPattern fills p with the bytes at offset off of the stream seeded by
// seed: cheap, deterministic and different for every offset modulo 2^32.
func fillPattern(p []byte, off, seed int64) {
	for i := range p {
		x := uint64(off+int64(i)) * 0x9E3779B97F4A7C15
		x ^= uint64(seed) * 0xBF58476D1CE4E5B9
		x ^= x >> 29
		p[i] = byte(x ^ x>>17 ^ x>>41)
	}
}

// pattern returns size bytes of the stream seeded by seed.
func pattern(size int, seed int64) []byte {
	p := make([]byte, size)
	fillPattern(p, 0, seed)
	return p
}

// patternReader streams left bytes of pattern seed 97.
type patternReader struct {
	left int64
	n    int64
}

func (r *patternReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	fillPattern(p, r.n, 97)
	r.n += int64(len(p))
	r.left -= int64(len(p))
	return len(p), nil
}

func keyf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

func mustPut(t *testing.T, s storage.Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(context.Background(), key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("Put %s (%d bytes): %v", key, len(data), err)
	}
}

func mustDelete(t *testing.T, s storage.Store, key string) {
	t.Helper()
	if err := s.Delete(context.Background(), key); err != nil {
		t.Fatalf("Delete %s: %v", key, err)
	}
}

// requireContent reads key whole and compares it with want.
func requireContent(t *testing.T, s storage.Store, key string, want []byte) {
	t.Helper()
	rc, err := s.Get(context.Background(), key, 0, -1)
	if err != nil {
		t.Fatalf("Get %s: %v", key, err)
	}
	defer func() { _ = rc.Close() }()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get %s: got %d bytes, want %d (first diff at %d)", key, len(got), len(want), firstDiff(got, want))
	}
}

// listKeys returns the keys List reports under prefix, in its order.
func listKeys(t *testing.T, s storage.Store, prefix string) []string {
	t.Helper()
	var keys []string
	err := s.List(context.Background(), prefix, func(info storage.Info) error {
		keys = append(keys, info.Key)
		return nil
	})
	if err != nil {
		t.Fatalf("List %q: %v", prefix, err)
	}
	return keys
}

// requireKeys checks that List(prefix) reports exactly want, in order.
func requireKeys(t *testing.T, s storage.Store, prefix string, want []string) {
	t.Helper()
	if got := listKeys(t, s, prefix); !slices.Equal(got, want) {
		t.Errorf("List %q:\n got  %q\n want %q", prefix, got, want)
	}
}

// requireEmpty fails the test if the store still holds any blob.
func requireEmpty(t *testing.T, s storage.Store) {
	t.Helper()
	if keys := listKeys(t, s, ""); len(keys) > 0 {
		t.Errorf("store not empty after the test: %q", keys)
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func removeKey(keys []string, key string) []string {
	return slices.DeleteFunc(slices.Clone(keys), func(k string) bool { return k == key })
}

func sortedCopy(keys []string) []string {
	c := slices.Clone(keys)
	slices.Sort(c)
	return c
}
