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

// ListCleanByUpload implements catalog.Rescans: one indexed query per page
// (records_clean_uploaded, migration 0005).
func (c *Catalog) ListCleanByUpload(ctx context.Context, q catalog.CleanQuery) ([]catalog.Entry, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	afterNS, afterOrigin, afterID := int64(-1<<63), "", ""
	if q.After != nil {
		afterNS, afterOrigin, afterID = q.After.UploadedAt.UnixNano(), q.After.Origin, q.After.ID
	}
	return c.query(ctx, "list_clean", `SELECT record, revision FROM records
		WHERE state = 'clean' AND uploaded_ns IS NOT NULL AND uploaded_ns >= $1 AND (uploaded_ns, origin, id) > ($2, $3, $4)
		ORDER BY uploaded_ns, origin, id LIMIT $5`, q.Since.UnixNano(), afterNS, afterOrigin, afterID, q.Limit)
}

// rescanStateName is the row of the rescan's state.
const rescanStateName = "rescan"

// GetRescanState implements catalog.Rescans.
func (c *Catalog) GetRescanState(ctx context.Context) (catalog.RescanState, uint64, error) {
	var data []byte
	var rev int64
	err := c.pool.QueryRow(ctx, "SELECT state, revision FROM rescan_state WHERE name = $1", rescanStateName).Scan(&data, &rev)
	if errors.Is(err, pgx.ErrNoRows) {
		return catalog.RescanState{}, 0, fmt.Errorf("%w: no rescan state", media.ErrNotFound)
	}
	if err != nil {
		return catalog.RescanState{}, 0, c.failed("rescan_state", fmt.Errorf("catalog: rescan state: %w", err))
	}
	var st catalog.RescanState
	if err := json.Unmarshal(data, &st); err != nil {
		return catalog.RescanState{}, 0, fmt.Errorf("catalog: rescan state at revision %d: %w", rev, err)
	}
	return st, uint64(rev), nil
}

// PutRescanState implements catalog.Rescans: an insert that fails on an
// existing row (rev 0) or an update that is a compare-and-set.
func (c *Catalog) PutRescanState(ctx context.Context, st catalog.RescanState, rev uint64) (uint64, error) {
	data, err := json.Marshal(st)
	if err != nil {
		return 0, fmt.Errorf("catalog: rescan state: %w", err)
	}
	var next int64
	if rev == 0 {
		err = c.pool.QueryRow(ctx, `INSERT INTO rescan_state (name, revision, state) VALUES ($1, nextval('catalog_revision'), $2)
			ON CONFLICT (name) DO NOTHING RETURNING revision`, rescanStateName, string(data)).Scan(&next)
	} else {
		err = c.pool.QueryRow(ctx, `UPDATE rescan_state SET state = $2, revision = nextval('catalog_revision')
			WHERE name = $1 AND revision = $3 RETURNING revision`, rescanStateName, string(data), int64(rev)).Scan(&next)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		c.metrics.conflicts.WithLabelValues("rescan_state").Inc()
		return 0, fmt.Errorf("%w: the rescan state changed since revision %d", media.ErrConflict, rev)
	}
	if err != nil {
		return 0, c.failed("rescan_state", fmt.Errorf("catalog: rescan state: %w", err))
	}
	return uint64(next), nil
}
