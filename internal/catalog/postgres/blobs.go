package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
)

func encodeBlob(b media.Blob) (string, error) {
	if !media.ValidSHA256(b.SHA256) {
		return "", fmt.Errorf("%w: %q is not a lowercase hex SHA-256", media.ErrInvalidID, b.SHA256)
	}
	data, err := json.Marshal(b)
	if err != nil {
		return "", fmt.Errorf("catalog: encode blob %s: %w", b.SHA256, err)
	}
	return string(data), nil
}

// CreateBlob implements catalog.Blobs.
func (c *Catalog) CreateBlob(ctx context.Context, b media.Blob) (uint64, error) {
	return c.createBlob(ctx, c.pool, b)
}

func (c *Catalog) createBlob(ctx context.Context, q querier, b media.Blob) (uint64, error) {
	data, err := encodeBlob(b)
	if err != nil {
		return 0, err
	}
	var rev int64
	err = q.QueryRow(ctx, `INSERT INTO blobs (sha256, ref_count, blob, revision)
		VALUES ($1, $2, $3, nextval('catalog_revision')) RETURNING revision`, b.SHA256, b.RefCount, data).Scan(&rev)
	if isUniqueViolation(err) {
		return 0, fmt.Errorf("%w: blob %s", media.ErrExists, b.SHA256)
	}
	if err != nil {
		return 0, c.failed("create_blob", fmt.Errorf("catalog: create blob %s: %w", b.SHA256, err))
	}
	return uint64(rev), nil
}

// GetBlob implements catalog.Blobs.
func (c *Catalog) GetBlob(ctx context.Context, sha256 string) (media.Blob, uint64, error) {
	return c.getBlob(ctx, c.pool, sha256, "")
}

func (c *Catalog) getBlob(ctx context.Context, q querier, sha256, lock string) (media.Blob, uint64, error) {
	if !media.ValidSHA256(sha256) {
		return media.Blob{}, 0, fmt.Errorf("%w: %q is not a lowercase hex SHA-256", media.ErrInvalidID, sha256)
	}
	var data []byte
	var rev int64
	err := q.QueryRow(ctx, "SELECT blob, revision FROM blobs WHERE sha256 = $1"+lock, sha256).Scan(&data, &rev)
	if errors.Is(err, pgx.ErrNoRows) {
		return media.Blob{}, 0, fmt.Errorf("%w: blob %s", media.ErrNotFound, sha256)
	}
	if err != nil {
		return media.Blob{}, 0, c.failed("get_blob", fmt.Errorf("catalog: get blob %s: %w", sha256, err))
	}
	var b media.Blob
	if err := json.Unmarshal(data, &b); err != nil {
		return media.Blob{}, 0, fmt.Errorf("catalog: decode blob %s: %w", sha256, err)
	}
	return b, uint64(rev), nil
}

// UpdateBlob implements catalog.Blobs.
func (c *Catalog) UpdateBlob(ctx context.Context, b media.Blob, rev uint64) (uint64, error) {
	return c.updateBlob(ctx, c.pool, b, rev)
}

func (c *Catalog) updateBlob(ctx context.Context, q querier, b media.Blob, rev uint64) (uint64, error) {
	data, err := encodeBlob(b)
	if err != nil {
		return 0, err
	}
	var newRev int64
	err = q.QueryRow(ctx, `UPDATE blobs SET ref_count = $2, blob = $3, revision = nextval('catalog_revision')
		WHERE sha256 = $1 AND revision = $4 RETURNING revision`, b.SHA256, b.RefCount, data, int64(rev)).Scan(&newRev)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, c.lostCAS(ctx, q, "blobs", "sha256 = $1", "blob "+b.SHA256, rev, b.SHA256)
	}
	if err != nil {
		return 0, c.failed("update_blob", fmt.Errorf("catalog: update blob %s: %w", b.SHA256, err))
	}
	return uint64(newRev), nil
}

// ModifyBlob implements catalog.Blobs.
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

// DeleteBlob implements catalog.Blobs.
func (c *Catalog) DeleteBlob(ctx context.Context, sha256 string, rev uint64) error {
	if !media.ValidSHA256(sha256) {
		return fmt.Errorf("%w: %q is not a lowercase hex SHA-256", media.ErrInvalidID, sha256)
	}
	tag, err := c.pool.Exec(ctx, "DELETE FROM blobs WHERE sha256 = $1 AND revision = $2", sha256, int64(rev))
	if err != nil {
		return c.failed("delete_blob", fmt.Errorf("catalog: delete blob %s: %w", sha256, err))
	}
	if tag.RowsAffected() == 0 {
		return c.lostCAS(ctx, c.pool, "blobs", "sha256 = $1", "blob "+sha256, rev, sha256)
	}
	return nil
}
