package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/mediarepo/mediarepo/internal/media"
)

// BulkLoad writes new records and blob records with COPY, in one
// transaction, revisions taken from the catalog's sequence. It is the
// scale benchmark's fill for millions of rows (`mrbench scale`), not a
// path of the service: it checks nothing beyond what encoding checks, and
// a key that exists fails the whole batch.
func (c *Catalog) BulkLoad(ctx context.Context, recs []media.Record, blobs []media.Blob) error {
	rows := make([][]any, 0, len(recs))
	for _, rec := range recs {
		r, err := encodeRecord(rec)
		if err != nil {
			return err
		}
		rows = append(rows, r.args())
	}
	blobRows := make([][]any, 0, len(blobs))
	for _, b := range blobs {
		data, err := encodeBlob(b)
		if err != nil {
			return err
		}
		blobRows = append(blobRows, []any{b.SHA256, b.RefCount, data})
	}
	return pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		var last int64
		n := int64(len(rows) + len(blobRows))
		if n == 0 {
			return nil
		}
		if err := tx.QueryRow(ctx, "SELECT setval('catalog_revision', nextval('catalog_revision') + $1 - 1)", n).Scan(&last); err != nil {
			return err
		}
		rev := last - n
		for i := range rows {
			rev++
			rows[i] = append(rows[i], rev)
		}
		for i := range blobRows {
			rev++
			blobRows[i] = append(blobRows[i], rev)
		}
		cols := append(strings.Split(recordColumns, ", "), "revision")
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"records"}, cols, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("catalog: bulk load records: %w", err)
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"blobs"}, []string{"sha256", "ref_count", "blob", "revision"}, pgx.CopyFromRows(blobRows)); err != nil {
			return fmt.Errorf("catalog: bulk load blob records: %w", err)
		}
		return nil
	})
}
