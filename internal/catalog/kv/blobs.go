package kv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
)

// CreateBlob implements Blobs; an existing record is media.ErrExists.
func (c *Catalog) CreateBlob(ctx context.Context, b media.Blob) (uint64, error) {
	key, data, err := encodeBlob(b)
	if err != nil {
		return 0, err
	}
	rev, err := c.blobs.Create(ctx, key, data)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return 0, fmt.Errorf("%w: blob %s", media.ErrExists, key)
	}
	if err != nil {
		return 0, c.failed("create_blob", fmt.Errorf("catalog: create blob %s: %w", key, err))
	}
	return rev, nil
}

// GetBlob implements Blobs.
func (c *Catalog) GetBlob(ctx context.Context, sha256 string) (media.Blob, uint64, error) {
	key, err := blobKey(sha256)
	if err != nil {
		return media.Blob{}, 0, err
	}
	e, err := c.blobs.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return media.Blob{}, 0, fmt.Errorf("%w: blob %s", media.ErrNotFound, key)
	}
	if err != nil {
		return media.Blob{}, 0, c.failed("get_blob", fmt.Errorf("catalog: get blob %s: %w", key, err))
	}
	var b media.Blob
	if err := json.Unmarshal(e.Value(), &b); err != nil {
		return media.Blob{}, 0, fmt.Errorf("catalog: decode blob %s: %w", key, err)
	}
	return b, e.Revision(), nil
}

// UpdateBlob implements Blobs.
func (c *Catalog) UpdateBlob(ctx context.Context, b media.Blob, rev uint64) (uint64, error) {
	key, data, err := encodeBlob(b)
	if err != nil {
		return 0, err
	}
	newRev, err := c.blobs.Update(ctx, key, data, rev)
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
		c.metrics.conflicts.WithLabelValues("blob").Inc()
		return 0, fmt.Errorf("%w: blob %s changed since revision %d", media.ErrConflict, key, rev)
	}
	if err != nil {
		return 0, c.failed("update_blob", fmt.Errorf("catalog: update blob %s: %w", key, err))
	}
	return newRev, nil
}

// ModifyBlob implements Blobs.
func (c *Catalog) ModifyBlob(ctx context.Context, sha256 string, fn func(*media.Blob) error) (media.Blob, uint64, error) {
	return catalog.RetryConflicts(ctx, c.opts.ModifyAttempts, "blob", func() (media.Blob, uint64, error) {
		b, rev, err := c.GetBlob(ctx, sha256)
		if err != nil {
			return media.Blob{}, 0, err
		}
		if err := fn(&b); err != nil {
			return media.Blob{}, 0, err
		}
		if b.SHA256 != sha256 {
			return media.Blob{}, 0, fmt.Errorf("%w: a blob record's hash cannot change", media.ErrInvalidID)
		}
		newRev, err := c.UpdateBlob(ctx, b, rev)
		return b, newRev, err
	})
}

// DeleteBlob implements Blobs.
func (c *Catalog) DeleteBlob(ctx context.Context, sha256 string, rev uint64) error {
	key, err := blobKey(sha256)
	if err != nil {
		return err
	}
	err = c.blobs.Purge(ctx, key, jetstream.LastRevision(rev))
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		c.metrics.conflicts.WithLabelValues("blob").Inc()
		return fmt.Errorf("%w: blob %s changed since revision %d", media.ErrConflict, key, rev)
	}
	if err != nil {
		return fmt.Errorf("catalog: delete blob %s: %w", key, err)
	}
	return nil
}

func encodeBlob(b media.Blob) (key string, data []byte, err error) {
	key, err = blobKey(b.SHA256)
	if err != nil {
		return "", nil, err
	}
	data, err = json.Marshal(b)
	if err != nil {
		return "", nil, fmt.Errorf("catalog: encode blob %s: %w", key, err)
	}
	return key, data, nil
}
