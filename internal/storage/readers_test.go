package storage_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/mediarepo/mediarepo/internal/storage"
)

// readExactly reads like an S3 client with a known length: exactly
// size bytes, then stops.
func readExactly(r io.Reader, size int) (int, error) {
	buf := make([]byte, size)
	return io.ReadFull(r, buf)
}

func TestCheckSize(t *testing.T) {
	cases := []struct {
		actual, declared int
		wantErr          bool
	}{
		{0, 0, false}, {10, 10, false}, {100_000, 100_000, false},
		{9, 10, true}, {11, 10, true}, {1, 0, true}, {0, 1, true}, {100_001, 100_000, true},
	}
	for _, c := range cases {
		data := bytes.Repeat([]byte{7}, c.actual)
		got, err := io.ReadAll(storage.CheckSize(bytes.NewReader(data), int64(c.declared)))
		if c.wantErr != errors.Is(err, storage.ErrSizeMismatch) {
			t.Errorf("%d bytes declared %d: ReadAll error %v", c.actual, c.declared, err)
		}
		if !c.wantErr && !bytes.Equal(got, data) {
			t.Errorf("%d bytes: content changed", c.actual)
		}
		// A consumer that stops at the declared length must never get all
		// of it when the stream holds more. (With size 0 such a consumer
		// reads nothing at all; the S3 backend probes itself.)
		if c.declared == 0 {
			continue
		}
		n, err := readExactly(storage.CheckSize(bytes.NewReader(data), int64(c.declared)), c.declared)
		if c.actual > c.declared && (n == c.declared || !errors.Is(err, storage.ErrSizeMismatch)) {
			t.Errorf("%d bytes declared %d: a length-bound consumer got %d bytes, %v", c.actual, c.declared, n, err)
		}
	}
	r := bytes.NewReader([]byte("abc"))
	if storage.CheckSize(r, -1) != io.Reader(r) {
		t.Error("CheckSize with an unknown size wraps the reader")
	}
}

func TestContextReader(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r := storage.ContextReader(ctx, bytes.NewReader(make([]byte, 100)))
	if n, err := r.Read(make([]byte, 10)); n != 10 || err != nil {
		t.Fatalf("Read before cancel: %d, %v", n, err)
	}
	cancel()
	if _, err := r.Read(make([]byte, 10)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Read after cancel: %v", err)
	}
}

func TestValidatePrefix(t *testing.T) {
	for _, p := range []string{"", "a", "a/", "a/b", "a/.", "media/ab=="} {
		if err := storage.ValidatePrefix(p); err != nil {
			t.Errorf("ValidatePrefix(%q): %v", p, err)
		}
	}
	for _, p := range []string{"/", "../", "a//", "a b", "..//"} {
		if err := storage.ValidatePrefix(p); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("ValidatePrefix(%q): %v, want ErrInvalidKey", p, err)
		}
	}
}
