package kv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
)

// Per-user usage lives in the counters bucket under "usage.<escaped user
// ID>", as JSON {"bytes","files"}, changed by compare-and-set like the
// other counters.
const usagePrefix = "usage."

func usageKey(userID string) (string, error) {
	if err := media.ValidateUserID(userID); err != nil {
		return "", err
	}
	return usagePrefix + escapeToken(userID), nil
}

// AddUsage implements catalog.Usages.
func (c *Catalog) AddUsage(ctx context.Context, userID string, delta, limit catalog.Usage) (catalog.Usage, error) {
	key, err := usageKey(userID)
	if err != nil {
		return catalog.Usage{}, err
	}
	var lastErr error
	for attempt := range c.opts.ModifyAttempts {
		cur, rev, err := c.readUsage(ctx, key)
		if err != nil {
			return catalog.Usage{}, err
		}
		next, ok := cur.Next(delta, limit)
		if !ok {
			return cur, fmt.Errorf("%w: %s uses %d bytes in %d files; %+v more would pass %+v", catalog.ErrQuotaExceeded, userID, cur.Bytes, cur.Files, delta, limit)
		}
		value, err := json.Marshal(next)
		if err != nil {
			return catalog.Usage{}, err
		}
		if rev == 0 {
			_, err = c.counters.Create(ctx, key, value)
		} else {
			_, err = c.counters.Update(ctx, key, value, rev)
		}
		if err == nil {
			return next, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return catalog.Usage{}, c.failed("add_usage", fmt.Errorf("catalog: usage of %s: %w", userID, err))
		}
		c.metrics.conflicts.WithLabelValues("counter").Inc()
		lastErr = err
		if err := catalog.Backoff(ctx, attempt); err != nil {
			return catalog.Usage{}, err
		}
	}
	return catalog.Usage{}, fmt.Errorf("catalog: usage of %s gave up after %d attempts: %w: %w", userID, c.opts.ModifyAttempts, media.ErrConflict, lastErr)
}

// GetUsage implements catalog.Usages.
func (c *Catalog) GetUsage(ctx context.Context, userID string) (catalog.Usage, error) {
	key, err := usageKey(userID)
	if err != nil {
		return catalog.Usage{}, err
	}
	u, _, err := c.readUsage(ctx, key)
	return u, err
}

// TopUsages implements catalog.Usages. It reads every usage counter (one
// per user who ever uploaded): fine for the embedded default and small
// servers this backend is for.
func (c *Catalog) TopUsages(ctx context.Context, n int) ([]catalog.UserUsage, error) {
	lister, err := c.counters.ListKeysFiltered(ctx, usagePrefix+">")
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return nil, nil
		}
		return nil, c.failed("list_usage", err)
	}
	var out []catalog.UserUsage
	for key := range lister.Keys() {
		user, err := unescapeToken(strings.TrimPrefix(key, usagePrefix))
		if err != nil {
			continue
		}
		u, _, err := c.readUsage(ctx, key)
		if err != nil {
			return nil, err
		}
		if u != (catalog.Usage{}) {
			out = append(out, catalog.UserUsage{UserID: user, Usage: u})
		}
	}
	slices.SortFunc(out, func(a, b catalog.UserUsage) int {
		if a.Bytes != b.Bytes {
			return int(min(max(b.Bytes-a.Bytes, -1), 1))
		}
		return strings.Compare(a.UserID, b.UserID)
	})
	if len(out) > n {
		out = out[:n]
	}
	return out, nil
}

func (c *Catalog) readUsage(ctx context.Context, key string) (catalog.Usage, uint64, error) {
	e, err := c.counters.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return catalog.Usage{}, 0, nil
	}
	if err != nil {
		return catalog.Usage{}, 0, c.failed("get_usage", fmt.Errorf("catalog: %s: %w", key, err))
	}
	var u catalog.Usage
	if err := json.Unmarshal(e.Value(), &u); err != nil {
		return catalog.Usage{}, 0, fmt.Errorf("catalog: %s holds %q: %w", key, e.Value(), err)
	}
	return u, e.Revision(), nil
}
