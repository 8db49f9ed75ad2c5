package kv

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
)

// Counters live in their own bucket, one key per counter, the value in
// decimal. Every change is a compare-and-set on the key's revision,
// retried with backoff, so concurrent replicas never lose an update.

// remoteBytesKey is the counter of cached remote media bytes.
const remoteBytesKey = "remote_bytes"

// AddRemoteBytes implements Counters.
func (c *Catalog) AddRemoteBytes(ctx context.Context, delta, limit int64) (int64, error) {
	var lastErr error
	for attempt := range c.opts.ModifyAttempts {
		cur, rev, err := c.readCounter(ctx, remoteBytesKey)
		if err != nil {
			return 0, err
		}
		next := cur + delta
		if delta > 0 && limit > 0 && next > limit {
			return cur, fmt.Errorf("%w: %d bytes of remote media cached, %d more would pass the quota of %d", catalog.ErrQuotaExceeded, cur, delta, limit)
		}
		next = max(next, 0)
		value := []byte(strconv.FormatInt(next, 10))
		if rev == 0 {
			_, err = c.counters.Create(ctx, remoteBytesKey, value)
		} else {
			_, err = c.counters.Update(ctx, remoteBytesKey, value, rev)
		}
		if err == nil {
			return next, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return 0, c.failed("add_counter", fmt.Errorf("catalog: counter %s: %w", remoteBytesKey, err))
		}
		c.metrics.conflicts.WithLabelValues("counter").Inc()
		lastErr = err
		if err := catalog.Backoff(ctx, attempt); err != nil {
			return 0, err
		}
	}
	return 0, fmt.Errorf("catalog: counter %s gave up after %d attempts: %w: %w", remoteBytesKey, c.opts.ModifyAttempts, media.ErrConflict, lastErr)
}

// RemoteBytes implements Counters.
func (c *Catalog) RemoteBytes(ctx context.Context) (int64, error) {
	v, _, err := c.readCounter(ctx, remoteBytesKey)
	return v, err
}

// readCounter returns a counter and its revision (0, 0 when it was never
// written).
func (c *Catalog) readCounter(ctx context.Context, key string) (int64, uint64, error) {
	e, err := c.counters.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, c.failed("get_counter", fmt.Errorf("catalog: counter %s: %w", key, err))
	}
	v, err := strconv.ParseInt(string(e.Value()), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("catalog: counter %s holds %q: %w", key, e.Value(), err)
	}
	return v, e.Revision(), nil
}
