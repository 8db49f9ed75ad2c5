package postgres

import (
	"context"
	"fmt"
)

// Counts returns the number of media records and of per-hash blob
// records: what `mediarepo catalog migrate` checks at its end, and the
// scale benchmark's fill. It counts every row (seconds at 10 M).
func (c *Catalog) Counts(ctx context.Context) (records, blobs int64, err error) {
	err = c.pool.QueryRow(ctx, "SELECT (SELECT count(*) FROM records), (SELECT count(*) FROM blobs)").Scan(&records, &blobs)
	if err != nil {
		return 0, 0, c.failed("count", fmt.Errorf("catalog: count: %w", err))
	}
	return records, blobs, nil
}

// DatabaseSize returns the bytes on disk of the catalog's database
// (tables, indexes, TOAST): the scale benchmark's figure.
func (c *Catalog) DatabaseSize(ctx context.Context) (int64, error) {
	var n int64
	if err := c.pool.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&n); err != nil {
		return 0, c.failed("database_size", fmt.Errorf("catalog: database size: %w", err))
	}
	return n, nil
}
