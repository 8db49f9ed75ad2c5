package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
)

// row is a record's columns, derived from the record in one place.
type row struct {
	origin, id string
	state      string
	sha256     *string
	uploader   *string
	changedNS  int64
	remote     bool
	uploadedNS *int64
	expiresNS  *int64
	data       string
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// encodeRecord validates the record's key and state and returns its row.
func encodeRecord(rec media.Record) (row, error) {
	if err := media.ValidateServerName(rec.Origin); err != nil {
		return row{}, err
	}
	if err := media.ValidateMediaID(rec.ID); err != nil {
		return row{}, err
	}
	if !rec.State.Valid() {
		return row{}, fmt.Errorf("%w: unknown state %q", media.ErrInvalidTransition, rec.State)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return row{}, fmt.Errorf("catalog: encode %s: %w", rec.MXC(), err)
	}
	r := row{origin: rec.Origin, id: rec.ID, state: string(rec.State), sha256: nonEmpty(rec.SHA256),
		uploader: nonEmpty(rec.Uploader), changedNS: catalog.ChangedAt(rec).UnixNano(), remote: rec.Remote, data: string(b)}
	if !rec.UploadedAt.IsZero() {
		n := rec.UploadedAt.UnixNano()
		r.uploadedNS = &n
	}
	if !rec.ExpiresAt.IsZero() {
		n := rec.ExpiresAt.UnixNano()
		r.expiresNS = &n
	}
	return r, nil
}

// args are the row's values for $1..$10 in insertRecord and updateRecord.
func (r row) args() []any {
	return []any{r.origin, r.id, r.state, r.sha256, r.uploader, r.changedNS, r.remote, r.uploadedNS, r.expiresNS, r.data}
}

const recordColumns = "origin, id, state, sha256, uploader, changed_ns, remote, uploaded_ns, expires_ns, record"

const insertRecord = `INSERT INTO records (` + recordColumns + `, revision)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, nextval('catalog_revision')) RETURNING revision`

// updateRecord is a compare-and-set on the revision ($11).
const updateRecord = `UPDATE records SET state = $3, sha256 = $4, uploader = $5, changed_ns = $6,
	remote = $7, uploaded_ns = $8, expires_ns = $9, record = $10, revision = nextval('catalog_revision')
	WHERE origin = $1 AND id = $2 AND revision = $11 RETURNING revision`

// querier is a pool or a transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// Create implements catalog.Records.
func (c *Catalog) Create(ctx context.Context, rec media.Record) (uint64, error) {
	return c.create(ctx, c.pool, rec)
}

func (c *Catalog) create(ctx context.Context, q querier, rec media.Record) (uint64, error) {
	r, err := encodeRecord(rec)
	if err != nil {
		return 0, err
	}
	var rev int64
	err = q.QueryRow(ctx, insertRecord, r.args()...).Scan(&rev)
	if isUniqueViolation(err) {
		return 0, fmt.Errorf("%w: %s", media.ErrExists, rec.MXC())
	}
	if err != nil {
		return 0, c.failed("create", fmt.Errorf("catalog: create %s: %w", rec.MXC(), err))
	}
	return uint64(rev), nil
}

// Get implements catalog.Records.
func (c *Catalog) Get(ctx context.Context, origin, id string) (media.Record, uint64, error) {
	return c.get(ctx, c.pool, origin, id, "")
}

// get reads a record; lock is "" or " FOR UPDATE" inside a transaction.
func (c *Catalog) get(ctx context.Context, q querier, origin, id, lock string) (media.Record, uint64, error) {
	if err := media.ValidateServerName(origin); err != nil {
		return media.Record{}, 0, err
	}
	if err := media.ValidateMediaID(id); err != nil {
		return media.Record{}, 0, err
	}
	var data []byte
	var rev int64
	err := q.QueryRow(ctx, "SELECT record, revision FROM records WHERE origin = $1 AND id = $2"+lock, origin, id).Scan(&data, &rev)
	if errors.Is(err, pgx.ErrNoRows) {
		return media.Record{}, 0, fmt.Errorf("%w: record %s", media.ErrNotFound, media.MXC(origin, id))
	}
	if err != nil {
		return media.Record{}, 0, c.failed("get", fmt.Errorf("catalog: get %s: %w", media.MXC(origin, id), err))
	}
	var rec media.Record
	if err := json.Unmarshal(data, &rec); err != nil {
		return media.Record{}, 0, fmt.Errorf("catalog: decode %s at revision %d: %w", media.MXC(origin, id), rev, err)
	}
	return rec, uint64(rev), nil
}

// Update implements catalog.Records.
func (c *Catalog) Update(ctx context.Context, rec media.Record, rev uint64) (uint64, error) {
	return c.update(ctx, c.pool, rec, rev)
}

func (c *Catalog) update(ctx context.Context, q querier, rec media.Record, rev uint64) (uint64, error) {
	r, err := encodeRecord(rec)
	if err != nil {
		return 0, err
	}
	var newRev int64
	err = q.QueryRow(ctx, updateRecord, append(r.args(), int64(rev))...).Scan(&newRev)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, c.lostCAS(ctx, q, "records", "origin = $1 AND id = $2", rec.MXC(), rev, rec.Origin, rec.ID)
	}
	if err != nil {
		return 0, c.failed("update", fmt.Errorf("catalog: update %s: %w", rec.MXC(), err))
	}
	return uint64(newRev), nil
}

// lostCAS tells a missing row (media.ErrNotFound) from one at another
// revision (media.ErrConflict) after a compare-and-set matched no row.
func (c *Catalog) lostCAS(ctx context.Context, q querier, table, where, name string, rev uint64, args ...any) error {
	var cur int64
	err := q.QueryRow(ctx, "SELECT revision FROM "+table+" WHERE "+where, args...).Scan(&cur)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: %s", media.ErrNotFound, name)
	}
	if err != nil {
		return c.failed("cas", fmt.Errorf("catalog: %s: %w", name, err))
	}
	kind := "record"
	if table == "blobs" {
		kind = "blob"
	}
	c.metrics.conflicts.WithLabelValues(kind).Inc()
	return fmt.Errorf("%w: %s is at revision %d, not %d", media.ErrConflict, name, cur, rev)
}

// Modify implements catalog.Records: read, change, compare-and-set,
// retried on conflicts (optimistic, like KV, so fn never runs while a row
// is locked).
func (c *Catalog) Modify(ctx context.Context, origin, id string, fn func(*media.Record) error) (media.Record, uint64, error) {
	return catalog.RetryConflicts(ctx, c.opts.ModifyAttempts, "record", func() (media.Record, uint64, error) {
		old, rev, err := c.Get(ctx, origin, id)
		if err != nil {
			return media.Record{}, 0, err
		}
		rec := old
		rec.History = append([]media.Event(nil), old.History...)
		if err := fn(&rec); err != nil {
			return media.Record{}, 0, err
		}
		if rec.Origin != old.Origin || rec.ID != old.ID {
			return media.Record{}, 0, fmt.Errorf("%w: a record's origin and ID cannot change", media.ErrInvalidID)
		}
		newRev, err := c.Update(ctx, rec, rev)
		return rec, newRev, err
	})
}

// Delete implements catalog.Records.
func (c *Catalog) Delete(ctx context.Context, origin, id string, rev uint64) error {
	if err := media.ValidateServerName(origin); err != nil {
		return err
	}
	if err := media.ValidateMediaID(id); err != nil {
		return err
	}
	tag, err := c.pool.Exec(ctx, "DELETE FROM records WHERE origin = $1 AND id = $2 AND revision = $3", origin, id, int64(rev))
	if err != nil {
		return c.failed("delete", fmt.Errorf("catalog: delete %s: %w", media.MXC(origin, id), err))
	}
	if tag.RowsAffected() == 0 {
		return c.lostCAS(ctx, c.pool, "records", "origin = $1 AND id = $2", media.MXC(origin, id), rev, origin, id)
	}
	return nil
}
