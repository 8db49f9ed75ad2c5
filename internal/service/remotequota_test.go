package service

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/catalog/kv"
	"github.com/mediarepo/mediarepo/internal/federation"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

// TestReservation runs fetch reservations against the real counter of a
// catalog on embedded NATS.
func TestReservation(t *testing.T) {
	ctx := t.Context()
	cat, err := kv.New(ctx, testenv.JetStream(t), kv.Options{}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cat.Close() })
	total := func() int64 {
		n, err := cat.RemoteBytes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	const limit = 3 * quotaStep / 2

	// Undeclared length: the body reserves as it streams; settle keeps the
	// exact size.
	q := &reservation{counter: cat, limit: limit}
	body := bytes.Repeat([]byte("a"), quotaStep+10)
	n, err := io.Copy(io.Discard, q.reader(ctx, bytes.NewReader(body)))
	if err != nil || n != int64(len(body)) {
		t.Fatalf("streaming under the quota: %d, %v", n, err)
	}
	if got := total(); got != q.held || got < n {
		t.Fatalf("reserved %d (held %d) for %d bytes", got, q.held, n)
	}
	if err := q.settle(ctx, n); err != nil || total() != n {
		t.Fatalf("settle: total %d, %v; want %d", total(), err, n)
	}

	// A second body that does not fit: the read fails with the quota's
	// error (502 M_TOO_LARGE) after taking exactly what was left, and
	// release gives that back.
	q2 := &reservation{counter: cat, limit: limit}
	_, err = io.Copy(io.Discard, q2.reader(ctx, bytes.NewReader(body)))
	if !errors.Is(err, catalog.ErrQuotaExceeded) || !errors.Is(err, federation.ErrRemoteTooLarge) {
		t.Fatalf("over the quota: %v", err)
	}
	if err := q2.release(ctx); err != nil || total() != n {
		t.Fatalf("after release: total %d, %v; want %d", total(), err, n)
	}

	// A small body fits exactly into what is left, though a whole step
	// does not.
	q3 := &reservation{counter: cat, limit: limit}
	rest := limit - n
	if _, err := io.Copy(io.Discard, q3.reader(ctx, bytes.NewReader(make([]byte, rest)))); err != nil {
		t.Fatalf("exact fit: %v", err)
	}
	if total() != limit {
		t.Fatalf("total %d after an exact fit, want %d", total(), limit)
	}

	// A declared length is refused before any byte is read.
	q4 := &reservation{counter: cat, limit: limit}
	if err := q4.reserve(ctx, 1); !errors.Is(err, catalog.ErrQuotaExceeded) || q4.held != 0 {
		t.Fatalf("declared over the quota: %v, held %d", err, q4.held)
	}

	// Without a counter nothing is counted.
	free := &reservation{}
	if r := free.reader(ctx, bytes.NewReader(body)); r == nil || free.reserve(ctx, 1<<40) != nil || free.release(ctx) != nil {
		t.Fatal("a reservation without a counter refused or failed")
	}
}
