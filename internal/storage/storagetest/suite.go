// Package storagetest is the one conformance suite every storage.Store
// backend (and every layer above one, like sealing) must pass.
package storagetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/storage"
)

// LargeSize is the size of the suite's biggest object. Backends that split
// uploads into parts (S3) must be configured with a part size of at most
// LargeSize/2 in their tests, so the suite exercises multi-part uploads,
// their failure and their cancellation.
const LargeSize = 11<<20 + 12345

// Run runs the conformance suite. newStore is called once per subtest and
// must return an empty store that no other test uses; the suite leaves it
// empty again and fails if it is not.
func Run(t *testing.T, newStore func(t *testing.T) storage.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"Ranges", testRanges},
		{"NotFound", testNotFound},
		{"Overwrite", testOverwrite},
		{"CancelledPut", testCancelledPut},
		{"FailedPut", testFailedPut},
		{"SizeMismatch", testSizeMismatch},
		{"List", testList},
		{"ListStops", testListStops},
		{"OddKeys", testOddKeys},
		{"InvalidKeys", testInvalidKeys},
		{"Concurrent", testConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			tc.fn(t, s)
			requireEmpty(t, s)
		})
	}
}

func testRoundTrip(t *testing.T, s storage.Store) {
	ctx := context.Background()
	for _, size := range []int{0, 1, 1000, 64 << 10, LargeSize} {
		for _, declared := range []bool{true, false} {
			key := keyf("rt/%d-%t", size, declared)
			want := pattern(size, int64(size))
			declSize := int64(-1)
			if declared {
				declSize = int64(size)
			}
			before := time.Now().Add(-time.Minute)
			if err := s.Put(ctx, key, bytes.NewReader(want), declSize); err != nil {
				t.Fatalf("Put %s (%d bytes, size %d): %v", key, size, declSize, err)
			}
			requireContent(t, s, key, want)
			info, err := s.Stat(ctx, key)
			if err != nil {
				t.Fatalf("Stat %s: %v", key, err)
			}
			if info.Key != key || info.Size != int64(size) {
				t.Errorf("Stat %s = %+v, want key %s size %d", key, info, key, size)
			}
			if info.ModTime.Before(before) || info.ModTime.After(time.Now().Add(time.Minute)) {
				t.Errorf("Stat %s: ModTime %v is not about now", key, info.ModTime)
			}
			mustDelete(t, s, key)
			if _, err := s.Stat(ctx, key); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("Stat after Delete %s: got %v, want ErrNotFound", key, err)
			}
		}
	}
}

func testRanges(t *testing.T, s storage.Store) {
	ctx := context.Background()
	for _, size := range []int{100_000, LargeSize} {
		key := keyf("range/%d", size)
		data := pattern(size, 7)
		mustPut(t, s, key, data)
		n := int64(size)
		cases := []struct {
			off, length int64
			want        []byte
		}{
			{0, -1, data},
			{0, 0, nil},
			{0, 10, data[:10]},
			{0, n, data},
			{0, n + 100, data},
			{1, 1, data[1:2]},
			{500, 1000, data[500:1500]},
			{n / 2, -1, data[n/2:]},
			{n/2 - 3, 7, data[n/2-3 : n/2+4]},
			{n - 10, 10, data[n-10:]},
			{n - 10, 100, data[n-10:]},
			{n - 10, -1, data[n-10:]},
			{n - 1, -1, data[n-1:]},
			{n, -1, nil},
			{n, 5, nil},
		}
		for _, c := range cases {
			rc, err := s.Get(ctx, key, c.off, c.length)
			if err != nil {
				t.Errorf("Get %s [%d,+%d): %v", key, c.off, c.length, err)
				continue
			}
			got, err := io.ReadAll(rc)
			closeErr := rc.Close()
			if err != nil || closeErr != nil {
				t.Errorf("read %s [%d,+%d): %v / close %v", key, c.off, c.length, err, closeErr)
				continue
			}
			if !bytes.Equal(got, c.want) {
				t.Errorf("Get %s [%d,+%d): got %d bytes, want %d (first diff at %d)",
					key, c.off, c.length, len(got), len(c.want), firstDiff(got, c.want))
			}
		}
		for _, bad := range [][2]int64{{n + 1, -1}, {n + 1, 1}, {n + 1<<20, 10}, {-1, 5}, {-1, -1}} {
			rc, err := s.Get(ctx, key, bad[0], bad[1])
			if err == nil {
				_ = rc.Close()
			}
			if !errors.Is(err, storage.ErrInvalidRange) {
				t.Errorf("Get %s [%d,+%d): got %v, want ErrInvalidRange", key, bad[0], bad[1], err)
			}
		}
		mustDelete(t, s, key)
	}
	// An empty blob: offset 0 is the end, anything beyond is invalid.
	mustPut(t, s, "range/empty", nil)
	rc, err := s.Get(ctx, "range/empty", 0, 10)
	if err != nil {
		t.Fatalf("Get empty blob [0,+10): %v", err)
	}
	if got, err := io.ReadAll(rc); err != nil || len(got) != 0 {
		t.Errorf("Get empty blob: %d bytes, %v", len(got), err)
	}
	_ = rc.Close()
	if _, err := s.Get(ctx, "range/empty", 1, -1); !errors.Is(err, storage.ErrInvalidRange) {
		t.Errorf("Get empty blob [1,-): got %v, want ErrInvalidRange", err)
	}
	mustDelete(t, s, "range/empty")
}

func testNotFound(t *testing.T, s storage.Store) {
	ctx := context.Background()
	mustPut(t, s, "nf/present", []byte("here"))
	for _, key := range []string{"nf/missing", "nf/present/below", "nf", "other/nf"} {
		if rc, err := s.Get(ctx, key, 0, -1); !errors.Is(err, storage.ErrNotFound) {
			if err == nil {
				_ = rc.Close()
			}
			t.Errorf("Get %s: got %v, want ErrNotFound", key, err)
		}
		if rc, err := s.Get(ctx, key, 2, 1); !errors.Is(err, storage.ErrNotFound) {
			if err == nil {
				_ = rc.Close()
			}
			t.Errorf("ranged Get %s: got %v, want ErrNotFound", key, err)
		}
		if _, err := s.Stat(ctx, key); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Stat %s: got %v, want ErrNotFound", key, err)
		}
		if err := s.Delete(ctx, key); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Delete %s: got %v, want ErrNotFound", key, err)
		}
	}
	mustDelete(t, s, "nf/present")
	if err := s.Delete(ctx, "nf/present"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("second Delete: got %v, want ErrNotFound", err)
	}
}

func testOverwrite(t *testing.T, s storage.Store) {
	key := "ow/blob"
	for i, size := range []int{5000, 10, 0, 70_000, 3} {
		data := pattern(size, int64(100+i))
		mustPut(t, s, key, data)
		requireContent(t, s, key, data)
		info, err := s.Stat(context.Background(), key)
		if err != nil || info.Size != int64(size) {
			t.Fatalf("Stat after overwrite %d: %+v, %v (want size %d)", i, info, err, size)
		}
	}
	requireKeys(t, s, "ow/", []string{key})
	mustDelete(t, s, key)
}
