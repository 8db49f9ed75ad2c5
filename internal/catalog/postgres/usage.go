package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
)

// AddUsage implements catalog.Usages in one statement: an upsert whose
// insert creates the row on first use and whose update adds to it, each
// refusing a delta that would pass a limit (the row lock makes concurrent
// adds queue, never overshoot; a first row is refused when the delta alone
// passes the limit, as it would from zero). One round trip instead of an
// insert of the row followed by the update (issue 18).
func (c *Catalog) AddUsage(ctx context.Context, userID string, delta, limit catalog.Usage) (catalog.Usage, error) {
	if err := media.ValidateUserID(userID); err != nil {
		return catalog.Usage{}, err
	}
	var next catalog.Usage
	err := c.pool.QueryRow(ctx, `INSERT INTO user_usage AS u (user_id, bytes, files)
		SELECT $1, greatest($2::bigint, 0), greatest($3::bigint, 0)
		WHERE NOT ($2::bigint > 0 AND $4::bigint > 0 AND $2::bigint > $4::bigint)
		  AND NOT ($3::bigint > 0 AND $5::bigint > 0 AND $3::bigint > $5::bigint)
		ON CONFLICT (user_id) DO UPDATE
		SET bytes = greatest(u.bytes + $2::bigint, 0), files = greatest(u.files + $3::bigint, 0)
		WHERE NOT ($2::bigint > 0 AND $4::bigint > 0 AND u.bytes + $2::bigint > $4::bigint)
		  AND NOT ($3::bigint > 0 AND $5::bigint > 0 AND u.files + $3::bigint > $5::bigint)
		RETURNING u.bytes, u.files`, userID, delta.Bytes, delta.Files, limit.Bytes, limit.Files).Scan(&next.Bytes, &next.Files)
	if errors.Is(err, pgx.ErrNoRows) {
		cur, err := c.GetUsage(ctx, userID)
		if err != nil {
			return catalog.Usage{}, err
		}
		return cur, fmt.Errorf("%w: %s uses %d bytes in %d files; %+v more would pass %+v", catalog.ErrQuotaExceeded, userID, cur.Bytes, cur.Files, delta, limit)
	}
	if err != nil {
		return catalog.Usage{}, c.failed("add_usage", fmt.Errorf("catalog: usage of %s: %w", userID, err))
	}
	return next, nil
}

// GetUsage implements catalog.Usages.
func (c *Catalog) GetUsage(ctx context.Context, userID string) (catalog.Usage, error) {
	if err := media.ValidateUserID(userID); err != nil {
		return catalog.Usage{}, err
	}
	var u catalog.Usage
	err := c.pool.QueryRow(ctx, `SELECT bytes, files FROM user_usage WHERE user_id = $1`, userID).Scan(&u.Bytes, &u.Files)
	if errors.Is(err, pgx.ErrNoRows) {
		return catalog.Usage{}, nil
	}
	if err != nil {
		return catalog.Usage{}, c.failed("get_usage", fmt.Errorf("catalog: usage of %s: %w", userID, err))
	}
	return u, nil
}

// TopUsages implements catalog.Usages from the index by bytes.
func (c *Catalog) TopUsages(ctx context.Context, n int) ([]catalog.UserUsage, error) {
	rows, err := c.pool.Query(ctx, `SELECT user_id, bytes, files FROM user_usage
		WHERE bytes > 0 OR files > 0 ORDER BY bytes DESC, user_id LIMIT $1`, n)
	if err != nil {
		return nil, c.failed("list_usage", err)
	}
	defer rows.Close()
	var out []catalog.UserUsage
	for rows.Next() {
		var u catalog.UserUsage
		if err := rows.Scan(&u.UserID, &u.Bytes, &u.Files); err != nil {
			return nil, c.failed("list_usage", err)
		}
		out = append(out, u)
	}
	return out, c.failed("list_usage", rows.Err())
}
