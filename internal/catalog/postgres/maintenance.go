package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
)

// PutIntent implements catalog.Intents. An upload's intent is committed
// without waiting for its WAL flush (synchronous_commit off for this one
// statement; purge marks keep it on): it is still written ahead and reaches the disk within the
// WAL writer's delay (200ms), or at once with the upload's next commit
// (RecordUpload), which waits for every earlier WAL record. Losing it
// needs PostgreSQL itself to crash in that window, and costs at most a
// blob that only the operator's full collection finds; never a record or
// a reference. It saves one disk flush per upload.
func (c *Catalog) PutIntent(ctx context.Context, in catalog.Intent) error {
	if in.BlobKey == "" {
		return fmt.Errorf("%w: an intent needs a blob key", media.ErrInvalidID)
	}
	_, err := c.pool.Exec(ctx, `WITH async AS (SELECT set_config('synchronous_commit', CASE WHEN $6 THEN 'on' ELSE 'off' END, true))
		INSERT INTO intents (blob_key, origin, id, sha256, created_ns, purge) SELECT $1, $2, $3, $4, $5, $6 FROM async
		ON CONFLICT (blob_key) DO UPDATE SET origin = EXCLUDED.origin, id = EXCLUDED.id, sha256 = EXCLUDED.sha256, created_ns = EXCLUDED.created_ns, purge = EXCLUDED.purge`,
		in.BlobKey, in.Origin, in.ID, nonEmpty(in.SHA256), in.CreatedAt.UnixNano(), in.Purge)
	if err != nil {
		return c.failed("put_intent", fmt.Errorf("catalog: put intent %s: %w", in.BlobKey, err))
	}
	return nil
}

// DeleteIntent implements catalog.Intents.
func (c *Catalog) DeleteIntent(ctx context.Context, blobKey string) error {
	if _, err := c.pool.Exec(ctx, "DELETE FROM intents WHERE blob_key = $1", blobKey); err != nil {
		return c.failed("delete_intent", fmt.Errorf("catalog: delete intent %s: %w", blobKey, err))
	}
	return nil
}

// ListIntents implements catalog.Intents, oldest first, a batch at a time
// (intents_created).
func (c *Catalog) ListIntents(ctx context.Context, before time.Time, fn func(catalog.Intent) error) error {
	limit := int64(1<<63 - 1)
	if !before.IsZero() {
		limit = before.UnixNano()
	}
	afterNS, afterKey := int64(-1<<63), ""
	for {
		rows, err := c.pool.Query(ctx, `SELECT blob_key, origin, id, coalesce(sha256, ''), created_ns, purge FROM intents
			WHERE created_ns < $1 AND (created_ns, blob_key) > ($2, $3) ORDER BY created_ns, blob_key LIMIT $4`,
			limit, afterNS, afterKey, batchSize)
		if err != nil {
			return c.failed("list_intents", fmt.Errorf("catalog: list intents: %w", err))
		}
		var batch []catalog.Intent
		var lastNS int64
		for rows.Next() {
			var in catalog.Intent
			if err := rows.Scan(&in.BlobKey, &in.Origin, &in.ID, &in.SHA256, &lastNS, &in.Purge); err != nil {
				rows.Close()
				return c.failed("list_intents", err)
			}
			in.CreatedAt = time.Unix(0, lastNS).UTC()
			batch = append(batch, in)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return c.failed("list_intents", fmt.Errorf("catalog: list intents: %w", err))
		}
		for _, in := range batch {
			if err := fn(in); err != nil {
				return err
			}
		}
		if len(batch) < batchSize {
			return nil
		}
		afterNS, afterKey = lastNS, batch[len(batch)-1].BlobKey
	}
}

// Reserve implements catalog.Reservations: in one transaction, under an
// advisory lock on the uploader (so concurrent reservations of one user
// are counted one after the other), count the user's open reservations
// (records_reservations) and create the record.
func (c *Catalog) Reserve(ctx context.Context, rec media.Record, limit int) (uint64, error) {
	if rec.State != media.StateReserved {
		return 0, fmt.Errorf("%w: Reserve takes a reserved record, not %s", media.ErrInvalidTransition, rec.State)
	}
	if err := media.ValidateUserID(rec.Uploader); err != nil {
		return 0, err
	}
	if limit < 1 {
		return 0, fmt.Errorf("%w: no reservations allowed", media.ErrLimitExceeded)
	}
	var rev uint64
	err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", rec.Uploader); err != nil {
			return err
		}
		var open int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM records WHERE state = 'reserved' AND uploader = $1 AND expires_ns > $2`,
			rec.Uploader, rec.CreatedAt.UnixNano()).Scan(&open); err != nil {
			return err
		}
		if open >= limit {
			return fmt.Errorf("%w: %d media IDs await their upload", media.ErrLimitExceeded, open)
		}
		var err error
		rev, err = c.create(ctx, tx, rec)
		return err
	})
	if err != nil {
		return 0, c.failed("reserve", err)
	}
	return rev, nil
}

// ListRemoteBefore implements catalog.RemoteRetention: clean cached remote
// records fetched before before, oldest first (records_remote_clean).
func (c *Catalog) ListRemoteBefore(ctx context.Context, before time.Time, fn func(catalog.Entry) error) error {
	return c.keyset(ctx, "list_remote", func(last *media.Record) (string, []any) {
		afterNS, afterOrigin, afterID := int64(-1<<63), "", ""
		if last != nil {
			afterNS, afterOrigin, afterID = last.UploadedAt.UnixNano(), last.Origin, last.ID
		}
		return `SELECT record, revision FROM records
			WHERE remote AND state = 'clean' AND uploaded_ns < $1 AND (uploaded_ns, origin, id) > ($2, $3, $4)
			ORDER BY uploaded_ns, origin, id LIMIT $5`, []any{before.UnixNano(), afterNS, afterOrigin, afterID, batchSize}
	}, fn)
}
