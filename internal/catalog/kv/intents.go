package kv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mediarepo/mediarepo/internal/catalog"
)

// Upload intents live in their own bucket, one key per blob key (escaped
// as one token). A removed intent is purged with a marker that expires,
// so the bucket's stream holds the uploads in flight, the crashed ones and
// the removals of the last minute: listing it costs in proportion to those,
// never to the catalog.

// intentKey returns the bucket key of a blob key.
func intentKey(blobKey string) (string, error) {
	if blobKey == "" {
		return "", fmt.Errorf("catalog: an upload intent needs a blob key")
	}
	return escapeToken(blobKey), nil
}

// PutIntent implements catalog.Intents.
func (c *Catalog) PutIntent(ctx context.Context, in catalog.Intent) error {
	key, err := intentKey(in.BlobKey)
	if err != nil {
		return err
	}
	data, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("catalog: encode intent %s: %w", in.BlobKey, err)
	}
	if _, err := c.intents.Put(ctx, key, data); err != nil {
		return c.failed("put_intent", fmt.Errorf("catalog: put intent %s: %w", in.BlobKey, err))
	}
	return nil
}

// DeleteIntent implements catalog.Intents.
func (c *Catalog) DeleteIntent(ctx context.Context, blobKey string) error {
	key, err := intentKey(blobKey)
	if err != nil {
		return err
	}
	err = c.intents.Purge(ctx, key, jetstream.PurgeTTL(indexMarkerTTL))
	if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return c.failed("delete_intent", fmt.Errorf("catalog: delete intent %s: %w", blobKey, err))
	}
	return nil
}

// ListIntents implements catalog.Intents.
func (c *Catalog) ListIntents(ctx context.Context, before time.Time, fn func(catalog.Intent) error) error {
	w, err := c.intents.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return fmt.Errorf("catalog: list intents: %w", err)
	}
	defer func() { _ = w.Stop() }()
	var found []catalog.Intent
	for done := false; !done; {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return fmt.Errorf("catalog: list intents: watch closed early")
			}
			if e == nil {
				done = true
				break
			}
			var in catalog.Intent
			if err := json.Unmarshal(e.Value(), &in); err != nil {
				c.log.WarnContext(ctx, "catalog: unreadable upload intent", "key", e.Key(), "error", err)
				continue
			}
			if before.IsZero() || in.CreatedAt.Before(before) {
				found = append(found, in)
			}
		}
	}
	// fn runs after the watch stopped, so a slow caller cannot stall it.
	_ = w.Stop()
	for _, in := range found {
		if err := fn(in); err != nil {
			return err
		}
	}
	return nil
}
