package importer

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mediarepo/mediarepo/internal/media"
)

// pageSize is how many rows one keyset-paginated query reads. Pages are
// read whole and the query closed before their files are imported, so no
// statement stays open on the homeserver's database while files stream.
const pageSize = 500

// queryPage runs q and returns every row as the driver's raw values (a
// column of an unexpected type makes that row unreadable, not the run:
// SQLite does not enforce column types).
func (db *DB) queryPage(ctx context.Context, q string, args ...any) ([][]any, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var page [][]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		page = append(page, vals)
	}
	return page, rows.Err()
}

// count runs a SELECT count(*)-like query.
func (db *DB) count(ctx context.Context, q string, args ...any) (int64, error) {
	var n any
	if err := db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return 0, err
	}
	v, ok, err := asInt(n)
	if err != nil || !ok {
		return 0, fmt.Errorf("count: %v", n)
	}
	return v, nil
}

// asString converts a raw column value; ok is false for NULL.
func asString(v any) (string, bool, error) {
	switch x := v.(type) {
	case nil:
		return "", false, nil
	case string:
		return x, true, nil
	case []byte:
		return string(x), true, nil
	case int64:
		return strconv.FormatInt(x, 10), true, nil
	}
	return "", false, fmt.Errorf("unexpected %T", v)
}

// asInt converts a raw column value; ok is false for NULL.
func asInt(v any) (int64, bool, error) {
	switch x := v.(type) {
	case nil:
		return 0, false, nil
	case int64:
		return x, true, nil
	case int32:
		return int64(x), true, nil
	case float64:
		if x != float64(int64(x)) {
			return 0, false, fmt.Errorf("not an integer: %v", x)
		}
		return int64(x), true, nil
	case string, []byte:
		s, _, _ := asString(x)
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return 0, false, fmt.Errorf("not an integer: %q", s)
		}
		return n, true, nil
	}
	return 0, false, fmt.Errorf("unexpected %T", v)
}

// asBool converts a raw column value (SQLite keeps booleans as 0/1); NULL
// is false.
func asBool(v any) (bool, error) {
	switch x := v.(type) {
	case nil:
		return false, nil
	case bool:
		return x, nil
	}
	n, ok, err := asInt(v)
	if err != nil {
		s, _, _ := asString(v)
		return strconv.ParseBool(s)
	}
	return ok && n != 0, nil
}

// rowReader converts one row's columns, keeping the first error, so a
// source reads a row top to bottom and checks once.
type rowReader struct {
	vals []any
	err  error
}

func (r *rowReader) fail(col string, err error) {
	if r.err == nil && err != nil {
		r.err = fmt.Errorf("column %s: %w", col, err)
	}
}

func (r *rowReader) str(i int, col string) string {
	s, _, err := asString(r.vals[i])
	r.fail(col, err)
	return s
}

// size returns the length column, or -1 when NULL.
func (r *rowReader) size(i int, col string) int64 {
	n, ok, err := asInt(r.vals[i])
	r.fail(col, err)
	if !ok {
		return -1
	}
	if n < 0 {
		r.fail(col, fmt.Errorf("negative length %d", n))
	}
	return n
}

// millis returns a UNIX milliseconds column as a time (zero when NULL).
func (r *rowReader) millis(i int, col string) time.Time {
	n, ok, err := asInt(r.vals[i])
	r.fail(col, err)
	if !ok || n <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(n).UTC()
}

func (r *rowReader) bool(i int, col string) bool {
	b, err := asBool(r.vals[i])
	r.fail(col, err)
	return b
}

// mediaID returns the column as a media ID, or fails the row: a malformed
// ID is never used as a path.
func (r *rowReader) mediaID(i int, col string) string {
	id := r.str(i, col)
	r.fail(col, media.ValidateMediaID(id))
	return id
}

// serverName returns the column as a server name, or fails the row.
func (r *rowReader) serverName(i int, col string) string {
	s := r.str(i, col)
	r.fail(col, media.ValidateServerName(s))
	return s
}

// userID returns the column as a user ID ("" when NULL or empty), or
// fails the row when it is malformed.
func (r *rowReader) userID(i int, col string) string {
	u := r.str(i, col)
	if u != "" {
		r.fail(col, media.ValidateUserID(u))
	}
	return u
}

// sha256 returns a lowercase hex SHA-256 column ("" when NULL or empty),
// or fails the row.
func (r *rowReader) sha256(i int, col string) string {
	h := strings.ToLower(r.str(i, col))
	if h != "" && !media.ValidSHA256(h) {
		r.fail(col, fmt.Errorf("not a hex SHA-256: %q", h))
	}
	return h
}
