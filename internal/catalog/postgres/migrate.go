package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Schema changes are versioned SQL files embedded in the binary
// (migrations/NNNN_name.sql). New starts apply the missing ones in order,
// each in its own transaction together with its row in
// schema_migrations, under an advisory lock so that replicas starting at
// once do not race. A database whose schema is newer than the binary
// knows is refused (ErrSchemaTooNew): an older binary must not write into
// a schema it does not understand. Extend the schema by adding a file with
// the next number; never edit a released one.

//go:embed migrations/*.sql
var migrationFiles embed.FS

// ErrSchemaTooNew means the database was migrated by a newer mediarepo.
var ErrSchemaTooNew = errors.New("catalog: the PostgreSQL schema is newer than this mediarepo knows")

// migrationLock is the advisory lock key that serialises migrations
// ("mediarepo" in ASCII, truncated).
const migrationLock int64 = 0x6d656469617265

type migration struct {
	version int
	name    string
	sql     string
}

func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("catalog: migration file %q is not NNNN_name.sql", e.Name())
		}
		b, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("catalog: migrations are not numbered 1..n: %s", m.name)
		}
	}
	return out, nil
}

// SchemaVersion is the newest schema this binary knows.
func SchemaVersion() int {
	ms, err := migrations()
	if err != nil {
		return 0
	}
	return len(ms)
}

// migrate brings the schema to version upTo (every known migration when
// upTo ≤ 0) and returns the version it found and the one it left.
func migrate(ctx context.Context, pool *pgxpool.Pool, upTo int) (from, to int, err error) {
	ms, err := migrations()
	if err != nil {
		return 0, 0, err
	}
	if upTo <= 0 || upTo > len(ms) {
		upTo = len(ms)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, 0, unavailable("connect", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLock); err != nil {
		return 0, 0, unavailable("migration lock", err)
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLock)
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return 0, 0, fmt.Errorf("catalog: schema_migrations: %w", err)
	}
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&from); err != nil {
		return 0, 0, fmt.Errorf("catalog: schema version: %w", err)
	}
	if from > len(ms) {
		return from, from, fmt.Errorf("%w: the database is at schema version %d, this binary knows versions up to %d; run a mediarepo at least as new as the one that migrated it", ErrSchemaTooNew, from, len(ms))
	}
	to = from
	for _, m := range ms[from:upTo] {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name)
			return err
		})
		if err != nil {
			return from, to, fmt.Errorf("catalog: migration %s: %w", m.name, err)
		}
		to = m.version
	}
	return from, to, nil
}
