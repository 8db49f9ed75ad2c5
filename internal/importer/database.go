package importer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // the pure-Go SQLite driver ("sqlite")
)

// ErrNoDatabase means the --database argument is neither a PostgreSQL URL
// (or key=value DSN) nor an existing SQLite file.
var ErrNoDatabase = errors.New("importer: not a PostgreSQL DSN nor an SQLite file")

// DB is a homeserver's database, opened so that it cannot be written: a
// PostgreSQL session whose transactions are all read-only
// (default_transaction_read_only), or an SQLite file opened read-only with
// query_only set.
type DB struct {
	*sql.DB
	// Postgres tells the dialect (catalog queries for columns).
	Postgres bool
}

// OpenDB opens dsnOrFile read-only: "postgres://…", "postgresql://…" or a
// libpq key=value string for PostgreSQL, a path for SQLite.
func OpenDB(ctx context.Context, dsnOrFile string) (*DB, error) {
	if isPostgresDSN(dsnOrFile) {
		cfg, err := pgx.ParseConfig(dsnOrFile)
		if err != nil {
			return nil, fmt.Errorf("importer: PostgreSQL DSN: %w", err)
		}
		cfg.RuntimeParams["default_transaction_read_only"] = "on"
		cfg.RuntimeParams["application_name"] = "mediarepo import"
		db := stdlib.OpenDB(*cfg)
		if err := db.PingContext(ctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("importer: connecting to PostgreSQL: %w", err)
		}
		return &DB{DB: db, Postgres: true}, nil
	}
	fi, err := os.Stat(dsnOrFile)
	if err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %q", ErrNoDatabase, dsnOrFile)
	}
	u := url.URL{Scheme: "file", OmitHost: true, Path: dsnOrFile,
		RawQuery: "mode=ro&_pragma=query_only(1)&_pragma=busy_timeout(10000)"}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return nil, fmt.Errorf("importer: opening SQLite %s: %w", dsnOrFile, err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("importer: opening SQLite %s: %w", dsnOrFile, err)
	}
	return &DB{DB: db}, nil
}

func isPostgresDSN(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://") ||
		strings.Contains(s, "dbname=") || strings.Contains(s, "host=")
}

// columns returns the column names of table (to read optional columns
// that later schema versions added), or an error when it does not exist.
func (db *DB) columns(ctx context.Context, table string) (map[string]bool, error) {
	q := `SELECT name FROM pragma_table_info($1)`
	if db.Postgres {
		q = `SELECT column_name FROM information_schema.columns WHERE table_name = $1 AND table_schema = current_schema()`
	}
	rows, err := db.QueryContext(ctx, q, table)
	if err != nil {
		return nil, fmt.Errorf("importer: columns of %s: %w", table, err)
	}
	defer rows.Close()
	cols := map[string]bool{}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, fmt.Errorf("importer: columns of %s: %w", table, err)
		}
		cols[strings.ToLower(c)] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("importer: columns of %s: %w", table, err)
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("importer: table %s not found: is this the homeserver's database?", table)
	}
	return cols, nil
}

// optional returns the column's name when it exists, else the SQL fallback.
func optional(cols map[string]bool, name, fallback string) string {
	if cols[name] {
		return name
	}
	return fallback
}
