package catalog

import (
	"context"
	"math/rand/v2"
	"time"
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
