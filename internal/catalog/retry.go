package catalog

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/mediarepo/mediarepo/internal/media"
)

// Backoff sleeps before a compare-and-set is retried: a random time that
// grows with the attempt (at most ~50ms), so that writers that lost
// against each other do not collide again. It returns ctx's error when ctx
// ends first.
func Backoff(ctx context.Context, attempt int) error {
	limit := time.Duration(1<<min(attempt, 6)) * 800 * time.Microsecond
	t := time.NewTimer(rand.N(limit) + time.Microsecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// RetryConflicts runs one read → change → compare-and-set attempt of a
// backend's Modify until it ends in anything but media.ErrConflict, at
// most n times with Backoff between tries, and returns that attempt's
// result. After n lost compare-and-sets it fails with an error wrapping
// the last conflict, naming what was modified.
func RetryConflicts[T any](ctx context.Context, n int, what string, attempt func() (T, uint64, error)) (T, uint64, error) {
	var zero T
	var lastErr error
	for i := range n {
		v, rev, err := attempt()
		if err == nil {
			return v, rev, nil
		}
		if !errors.Is(err, media.ErrConflict) {
			return zero, 0, err
		}
		lastErr = err
		if err := Backoff(ctx, i); err != nil {
			return zero, 0, err
		}
	}
	return zero, 0, fmt.Errorf("catalog: modify %s gave up after %d attempts: %w", what, n, lastErr)
}
