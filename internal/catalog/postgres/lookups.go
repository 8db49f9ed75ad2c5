package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
)

// batchSize is how many rows a walk reads per query: the callback runs
// between queries, never while a connection is held, so it may call the
// catalog itself.
const batchSize = 500

// scanEntries reads (record, revision) rows.
func scanEntries(rows pgx.Rows) ([]catalog.Entry, error) {
	defer rows.Close()
	var out []catalog.Entry
	for rows.Next() {
		var data []byte
		var rev int64
		if err := rows.Scan(&data, &rev); err != nil {
			return nil, err
		}
		var rec media.Record
		if err := json.Unmarshal(data, &rec); err != nil {
			return nil, fmt.Errorf("catalog: decode record at revision %d: %w", rev, err)
		}
		out = append(out, catalog.Entry{Record: rec, Revision: uint64(rev)})
	}
	return out, rows.Err()
}

func (c *Catalog) query(ctx context.Context, op, sql string, args ...any) ([]catalog.Entry, error) {
	rows, err := c.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, c.failed(op, fmt.Errorf("catalog: %s: %w", op, err))
	}
	out, err := scanEntries(rows)
	if err != nil {
		return nil, c.failed(op, fmt.Errorf("catalog: %s: %w", op, err))
	}
	return out, nil
}

// ByHash implements catalog.Lookups.
func (c *Catalog) ByHash(ctx context.Context, sha256 string) ([]catalog.Entry, error) {
	if !media.ValidSHA256(sha256) {
		return nil, fmt.Errorf("%w: %q is not a lowercase hex SHA-256", media.ErrInvalidID, sha256)
	}
	return c.query(ctx, "by_hash", "SELECT record, revision FROM records WHERE sha256 = $1", sha256)
}

// ByUploader implements catalog.Lookups: keyset pages of batchSize in the
// listing order (newest change first) through records_uploader. A record
// changed by fn moves before the cursor and is not read again.
func (c *Catalog) ByUploader(ctx context.Context, userID string, fn func(catalog.Entry) error) error {
	if err := media.ValidateUserID(userID); err != nil {
		return err
	}
	const (
		sel   = "SELECT record, revision FROM records WHERE uploader = $1"
		order = " ORDER BY changed_ns DESC, origin DESC, id DESC LIMIT $2"
	)
	return c.keyset(ctx, "by_uploader", func(last *media.Record) (string, []any) {
		if last == nil {
			return sel + order, []any{userID, batchSize}
		}
		p := catalog.PositionOf(*last)
		return sel + " AND (changed_ns, origin, id) < ($3, $4, $5)" + order,
			[]any{userID, batchSize, p.ChangedAt.UnixNano(), p.Origin, p.ID}
	}, fn)
}

// stateList returns validated states as an SQL list of literals. States
// are written into the statement, not bound, so that the planner can match
// the partial indexes (a bound parameter would hide which states it is).
func stateList(states []media.State) (string, error) {
	lits := make([]string, 0, len(states))
	for _, s := range states {
		if !s.Valid() {
			return "", fmt.Errorf("%w: unknown state %q", media.ErrInvalidTransition, s)
		}
		lits = append(lits, "'"+string(s)+"'")
	}
	return strings.Join(lits, ", "), nil
}

// ListByState implements catalog.Lookups, in primary-key order, a batch at
// a time. Reserved, pending, quarantined and blocked use partial indexes;
// other states scan the table.
func (c *Catalog) ListByState(ctx context.Context, state media.State, fn func(catalog.Entry) error) error {
	in, err := stateList([]media.State{state})
	if err != nil {
		return err
	}
	return c.walk(ctx, "list_by_state", "state IN ("+in+")", fn)
}

// Walk implements catalog.Lookups, in primary-key order, a batch at a time.
func (c *Catalog) Walk(ctx context.Context, fn func(catalog.Entry) error) error {
	return c.walk(ctx, "walk", "true", fn)
}

func (c *Catalog) walk(ctx context.Context, op, where string, fn func(catalog.Entry) error) error {
	first := "SELECT record, revision FROM records WHERE " + where + " ORDER BY origin, id LIMIT $1"
	next := "SELECT record, revision FROM records WHERE " + where + " AND (origin, id) > ($2, $3) ORDER BY origin, id LIMIT $1"
	return c.keyset(ctx, op, func(last *media.Record) (string, []any) {
		if last == nil {
			return first, []any{batchSize}
		}
		return next, []any{batchSize, last.Origin, last.ID}
	}, fn)
}

// keyset passes fn every record of a keyset-paginated listing, batchSize
// rows a query, until a batch comes back short. page gives the statement
// and arguments of the batch after last (nil for the first batch).
func (c *Catalog) keyset(ctx context.Context, op string, page func(last *media.Record) (string, []any), fn func(catalog.Entry) error) error {
	var last *media.Record
	for {
		sql, args := page(last)
		batch, err := c.query(ctx, op, sql, args...)
		if err != nil {
			return err
		}
		for _, e := range batch {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(batch) < batchSize {
			return nil
		}
		last = &batch[len(batch)-1].Record
	}
}

// List implements catalog.Lookups: one indexed query with keyset
// pagination in the order of catalog.Position (records_officers serves
// quarantined and blocked; records_uploader serves an uploader's media).
func (c *Catalog) List(ctx context.Context, q catalog.ListQuery) ([]catalog.Entry, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	in, err := stateList(q.States)
	if err != nil {
		return nil, err
	}
	where := []string{"state IN (" + in + ")"}
	args := []any{}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if !q.Since.IsZero() {
		where = append(where, "changed_ns >= "+arg(q.Since.UnixNano()))
	}
	if !q.Until.IsZero() {
		where = append(where, "changed_ns < "+arg(q.Until.UnixNano()))
	}
	if q.Uploader != "" {
		where = append(where, "uploader = "+arg(q.Uploader))
	}
	if q.Origin != "" {
		where = append(where, "origin = "+arg(q.Origin))
	}
	if q.After != nil {
		where = append(where, fmt.Sprintf("(changed_ns, origin, id) < (%s, %s, %s)",
			arg(q.After.ChangedAt.UnixNano()), arg(q.After.Origin), arg(q.After.ID)))
	}
	sql := "SELECT record, revision FROM records WHERE " + strings.Join(where, " AND ") +
		" ORDER BY changed_ns DESC, origin DESC, id DESC LIMIT " + arg(q.Limit)
	return c.query(ctx, "list", sql, args...)
}
