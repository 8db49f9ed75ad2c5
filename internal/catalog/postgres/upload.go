package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
)

// newContent creates the blob record and the media record of new content
// in one statement (so one transaction and one round trip): the blob
// insert does nothing when the hash has a record already, and then no
// media record is written either (RecordUpload shares in a transaction).
const newContent = `WITH b AS (
	INSERT INTO blobs (sha256, ref_count, blob, revision) VALUES ($4, 1, $11, nextval('catalog_revision'))
	ON CONFLICT (sha256) DO NOTHING RETURNING 1
), r AS (
	INSERT INTO records (` + recordColumns + `, revision)
	SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, nextval('catalog_revision') FROM b
	RETURNING revision
), i AS (
	DELETE FROM intents WHERE blob_key = $12 AND EXISTS (SELECT 1 FROM r)
)
SELECT revision FROM r`

// RecordUpload implements catalog.Uploads in one transaction: the blob
// reference, the record and the intent's removal happen together or not
// at all, so the intent needs no hash. New content costs one statement;
// content stored before costs a transaction that locks its blob record,
// applies catalog.Share and writes both.
func (c *Catalog) RecordUpload(ctx context.Context, up catalog.Upload) (catalog.Stored, error) {
	rec, rev, at := up.Record, up.Revision, up.At
	if err := catalog.CheckUpload(rec); err != nil {
		return catalog.Stored{}, err
	}
	own := rec.BlobKey
	fail := catalog.Stored{Unused: own}
	r, err := encodeRecord(rec)
	if err != nil {
		return fail, err
	}
	if rev == 0 {
		blob, err := encodeBlob(media.NewBlob(rec.SHA256, own, rec.Size, at))
		if err != nil {
			return fail, err
		}
		var newRev int64
		err = c.pool.QueryRow(ctx, newContent, append(r.args(), blob, up.Intent)...).Scan(&newRev)
		switch {
		case err == nil:
			return catalog.Stored{Record: rec, Revision: uint64(newRev)}, nil
		case isUniqueViolation(err):
			return fail, fmt.Errorf("%w: %s", media.ErrExists, rec.MXC())
		case errors.Is(err, pgx.ErrNoRows):
		case isOutcomeUnknown(err):
			// The statement was sent: it may have stored the record
			// and removed the intent. Nothing is unused then.
			return catalog.Stored{}, c.failed("record_upload", unknownOutcome("record upload "+rec.MXC(), err))
		default:
			return fail, c.failed("record_upload", fmt.Errorf("catalog: record upload %s: %w", rec.MXC(), err))
		}
	}
	var st catalog.Stored
	committing := false
	err = pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		key := own
		b, brev, err := c.getBlob(ctx, tx, rec.SHA256, " FOR UPDATE")
		switch {
		case errors.Is(err, media.ErrNotFound):
			if _, err := c.createBlob(ctx, tx, media.NewBlob(rec.SHA256, own, rec.Size, at)); err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			d, err := catalog.Share(ctx, b, own, at, up.BlobStored)
			if err != nil {
				return err
			}
			if d.Write {
				if _, err := c.updateBlob(ctx, tx, d.Next, brev); err != nil {
					return err
				}
			}
			key = d.Key
		}
		rec.BlobKey = key
		var newRev uint64
		if rev == 0 {
			newRev, err = c.create(ctx, tx, rec)
		} else {
			newRev, err = c.update(ctx, tx, rec, rev)
		}
		if err != nil {
			return err
		}
		if up.Intent != "" {
			if _, err := tx.Exec(ctx, "DELETE FROM intents WHERE blob_key = $1", up.Intent); err != nil {
				return err
			}
		}
		st = catalog.Stored{Record: rec, Revision: newRev}
		if key != own {
			st.Unused = own
		}
		committing = true
		return nil
	})
	switch {
	case err != nil && committing && isOutcomeUnknown(err):
		// The COMMIT was sent and its answer lost.
		return catalog.Stored{}, c.failed("record_upload", unknownOutcome("record upload "+rec.MXC(), err))
	case err != nil:
		return fail, c.failed("record_upload", err)
	}
	return st, nil
}

// isOutcomeUnknown reports whether err, returned by a write that was
// sent, leaves its outcome unknown (see unknownOutcome).
func isOutcomeUnknown(err error) bool {
	return errors.Is(unknownOutcome("", err), catalog.ErrOutcomeUnknown)
}
