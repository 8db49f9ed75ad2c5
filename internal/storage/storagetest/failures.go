package storagetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/storage"
)

// errBoom is what a failing upload stream returns mid-way.
var errBoom = errors.New("storagetest: reader failed on purpose")

// errIgnoredCancel ends a stream whose store never noticed cancellation.
var errIgnoredCancel = errors.New("storagetest: store kept reading 30s after ctx was cancelled")

// failure describes one way an upload can go wrong.
type failure struct {
	name     string
	after    int64 // bytes delivered before the failure
	declared int64 // size passed to Put
}

// failures: small and multi-part sized, with known and unknown size.
func failures() []failure {
	return []failure{
		{"small-unknown-size", 1000, -1},
		{"small-known-size", 1000, 5000},
		{"large-unknown-size", LargeSize/2 + 4096, -1},
		{"large-known-size", LargeSize/2 + 4096, LargeSize},
	}
}

// cancellingReader delivers after bytes, cancels the context, then keeps
// delivering slowly until the store gives up (or 30 s pass).
type cancellingReader struct {
	after    int64
	declared int64
	cancel   context.CancelFunc
	n        int64
	since    time.Time
}

func (r *cancellingReader) Read(p []byte) (int, error) {
	if r.n >= r.after {
		if r.since.IsZero() {
			r.cancel()
			r.since = time.Now()
		}
		if time.Since(r.since) > 30*time.Second {
			return 0, errIgnoredCancel
		}
		time.Sleep(5 * time.Millisecond)
		if len(p) > 4096 {
			p = p[:4096]
		}
	} else if int64(len(p)) > r.after-r.n {
		p = p[:r.after-r.n]
	}
	if r.declared >= 0 && int64(len(p)) > r.declared-r.n {
		p = p[:r.declared-r.n]
		if len(p) == 0 {
			return 0, io.EOF
		}
	}
	fillPattern(p, r.n, 99)
	r.n += int64(len(p))
	return len(p), nil
}

// failingReader delivers after bytes, then fails with errBoom.
type failingReader struct {
	after int64
	n     int64
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n >= r.after {
		return 0, errBoom
	}
	if int64(len(p)) > r.after-r.n {
		p = p[:r.after-r.n]
	}
	fillPattern(p, r.n, 98)
	r.n += int64(len(p))
	return len(p), nil
}

// requireUntouched checks that a failed Put left nothing at fresh and the
// old content at existing.
func requireUntouched(t *testing.T, s storage.Store, fresh, existing string, old []byte) {
	t.Helper()
	if _, err := s.Stat(context.Background(), fresh); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Stat %s after failed Put: got %v, want ErrNotFound", fresh, err)
	}
	requireContent(t, s, existing, old)
}

func testCancelledPut(t *testing.T, s storage.Store) {
	old := pattern(3000, 1)
	for _, f := range failures() {
		existing, fresh := "cancel/"+f.name+"/existing", "cancel/"+f.name+"/fresh"
		mustPut(t, s, existing, old)
		for _, key := range []string{fresh, existing} {
			ctx, cancel := context.WithCancel(context.Background())
			r := &cancellingReader{after: f.after, declared: f.declared, cancel: cancel}
			start := time.Now()
			err := s.Put(ctx, key, r, f.declared)
			cancel()
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%s: Put %s cancelled after %d bytes: got %v, want context.Canceled", f.name, key, f.after, err)
			}
			if !r.since.IsZero() && time.Since(r.since) > 10*time.Second {
				t.Errorf("%s: Put took %v after cancellation (started %v ago)", f.name, time.Since(r.since), time.Since(start))
			}
		}
		requireUntouched(t, s, fresh, existing, old)
		requireKeys(t, s, "cancel/"+f.name+"/", []string{existing})
		mustDelete(t, s, existing)
	}
	// A context cancelled before Put starts stores nothing either.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Put(ctx, "cancel/early", &failingReader{after: 10}, -1); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a cancelled context: got %v, want context.Canceled", err)
	}
	if _, err := s.Stat(context.Background(), "cancel/early"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Stat after Put with a cancelled context: got %v, want ErrNotFound", err)
	}
}

func testFailedPut(t *testing.T, s storage.Store) {
	old := pattern(3000, 2)
	for _, f := range failures() {
		existing, fresh := "fail/"+f.name+"/existing", "fail/"+f.name+"/fresh"
		mustPut(t, s, existing, old)
		for _, key := range []string{fresh, existing} {
			err := s.Put(context.Background(), key, &failingReader{after: f.after}, f.declared)
			if !errors.Is(err, errBoom) {
				t.Errorf("%s: Put %s with a reader failing after %d bytes: got %v, want the reader's error", f.name, key, f.after, err)
			}
		}
		requireUntouched(t, s, fresh, existing, old)
		requireKeys(t, s, "fail/"+f.name+"/", []string{existing})
		mustDelete(t, s, existing)
	}
}

func testSizeMismatch(t *testing.T, s storage.Store) {
	old := pattern(3000, 3)
	cases := []struct {
		actual, declared int
	}{
		{0, 1}, {1, 0}, {999, 1000}, {1001, 1000},
		{LargeSize - 1, LargeSize}, {LargeSize + 1, LargeSize}, {LargeSize, 1000}, {1000, LargeSize},
	}
	for _, c := range cases {
		prefix := fmt.Sprintf("size/%d-%d/", c.actual, c.declared)
		existing, fresh := prefix+"existing", prefix+"fresh"
		mustPut(t, s, existing, old)
		for _, key := range []string{fresh, existing} {
			err := s.Put(context.Background(), key, &patternReader{left: int64(c.actual)}, int64(c.declared))
			if !errors.Is(err, storage.ErrSizeMismatch) {
				t.Errorf("Put %s of %d bytes declared as %d: got %v, want ErrSizeMismatch", key, c.actual, c.declared, err)
			}
		}
		requireUntouched(t, s, fresh, existing, old)
		requireKeys(t, s, prefix, []string{existing})
		mustDelete(t, s, existing)
	}
}
