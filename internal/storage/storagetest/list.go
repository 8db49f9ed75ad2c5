package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/mediarepo/mediarepo/internal/storage"
)

func testList(t *testing.T, s storage.Store) {
	ctx := context.Background()
	// Chosen so that a walk of directories in name order gives the wrong
	// key order: '-' and '.' sort before '/', '0' and '=' after it.
	keys := []string{
		"ls/a-c", "ls/a.d", "ls/a/b", "ls/a/b/c", "ls/a0", "ls/a=e", "ls/ab",
		"ls/b/x/y/z", "ls/b0", "lt", "m/ls",
	}
	sizes := map[string]int64{}
	for i, k := range keys {
		if k == "ls/a/b/c" {
			continue // a key and a "directory" of the same name are not portable
		}
		sizes[k] = int64(i * 10)
		mustPut(t, s, k, pattern(i*10, int64(i)))
	}
	keys = removeKey(keys, "ls/a/b/c")
	cases := []struct {
		prefix string
		want   []string
	}{
		{"", keys},
		{"l", keys[:len(keys)-1]},
		{"ls/", keys[:len(keys)-2]},
		{"ls/a", keys[:6]},
		{"ls/a/", []string{"ls/a/b"}},
		{"ls/a/b", []string{"ls/a/b"}},
		{"ls/b", []string{"ls/b/x/y/z", "ls/b0"}},
		{"ls/b/x/", []string{"ls/b/x/y/z"}},
		{"ls/c", nil},
		{"nothing/", nil},
		{"m", []string{"m/ls"}},
	}
	for _, c := range cases {
		requireKeys(t, s, c.prefix, c.want)
	}
	err := s.List(ctx, "ls/", func(info storage.Info) error {
		if info.Size != sizes[info.Key] {
			t.Errorf("List: %s has size %d, want %d", info.Key, info.Size, sizes[info.Key])
		}
		if info.ModTime.IsZero() {
			t.Errorf("List: %s has no ModTime", info.Key)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if err := s.List(ctx, "../", func(storage.Info) error { return nil }); !errors.Is(err, storage.ErrInvalidKey) {
		t.Errorf("List with prefix ../: got %v, want ErrInvalidKey", err)
	}
	for _, k := range keys {
		mustDelete(t, s, k)
	}
}

func testListStops(t *testing.T, s storage.Store) {
	for i := range 5 {
		mustPut(t, s, keyf("stop/%d", i), []byte{byte(i)})
	}
	stop := errors.New("enough")
	var seen []string
	err := s.List(context.Background(), "stop/", func(info storage.Info) error {
		seen = append(seen, info.Key)
		if len(seen) == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || len(seen) != 2 {
		t.Errorf("List stopped by fn: err %v after %v, want %v after 2 keys", err, seen, stop)
	}
	for i := range 5 {
		mustDelete(t, s, keyf("stop/%d", i))
	}
}

func testOddKeys(t *testing.T, s storage.Store) {
	long := strings.Repeat(strings.Repeat("x", 99)+"/", 5) + strings.Repeat("y", storage.MaxKeyLength-500)
	keys := []string{
		"odd/a=b", "odd/x-y_z.w", "odd/==", "odd/-", "odd/_", "odd/.hidden", "odd/...",
		"odd/a/b/c/d/e/f/g/h/i/j", "odd/UPPER/lower/0123456789", "odd/sha256=abcdef0123",
		long,
	}
	if len(long) != storage.MaxKeyLength {
		t.Fatalf("long key has %d bytes", len(long))
	}
	for i, k := range keys {
		if err := storage.ValidateKey(k); err != nil {
			t.Fatalf("test key %q is not valid: %v", k, err)
		}
		mustPut(t, s, k, pattern(100+i, int64(i)))
	}
	for i, k := range keys {
		requireContent(t, s, k, pattern(100+i, int64(i)))
	}
	requireKeys(t, s, "", sortedCopy(keys))
	for _, k := range keys {
		mustDelete(t, s, k)
	}
}

func testInvalidKeys(t *testing.T, s storage.Store) {
	ctx := context.Background()
	bad := []string{
		"", "/", "/abs", "trailing/", "a//b", ".", "..", "../up", "a/../b", "a/./b",
		"space here", "back\\slash", "colon:x", "umlaut-ä", "nul\x00", "star*", "q?",
		strings.Repeat("k", storage.MaxKeyLength+1),
	}
	for _, k := range bad {
		if err := s.Put(ctx, k, bytes.NewReader([]byte("x")), 1); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("Put %q: got %v, want ErrInvalidKey", k, err)
		}
		if rc, err := s.Get(ctx, k, 0, -1); !errors.Is(err, storage.ErrInvalidKey) {
			if err == nil {
				_ = rc.Close()
			}
			t.Errorf("Get %q: got %v, want ErrInvalidKey", k, err)
		}
		if _, err := s.Stat(ctx, k); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("Stat %q: got %v, want ErrInvalidKey", k, err)
		}
		if err := s.Delete(ctx, k); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("Delete %q: got %v, want ErrInvalidKey", k, err)
		}
	}
}

func testConcurrent(t *testing.T, s storage.Store) {
	const workers, rounds = 8, 4
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds)
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				key := keyf("conc/%d/%d", w, r)
				data := pattern(1000+w*37000+r*5000, int64(w*100+r))
				if err := concurrentRound(s, key, data); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func concurrentRound(s storage.Store, key string, data []byte) error {
	ctx := context.Background()
	if err := s.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
		return fmt.Errorf("Put %s: %w", key, err)
	}
	rc, err := s.Get(ctx, key, 0, -1)
	if err != nil {
		return fmt.Errorf("Get %s: %w", key, err)
	}
	got, err := io.ReadAll(rc)
	_ = rc.Close()
	if err != nil {
		return fmt.Errorf("read %s: %w", key, err)
	}
	if !bytes.Equal(got, data) {
		return fmt.Errorf("Get %s: got %d bytes, want %d, first diff at %d", key, len(got), len(data), firstDiff(got, data))
	}
	if err := s.Delete(ctx, key); err != nil {
		return fmt.Errorf("Delete %s: %w", key, err)
	}
	return nil
}
