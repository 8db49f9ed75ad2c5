package importer_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"github.com/mediarepo/mediarepo/internal/importer"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

// TestOpenDBIsReadOnly shows that the import cannot write to the
// homeserver's database, whichever it is: every statement that would
// change it is refused by the database itself.
func TestOpenDBIsReadOnly(t *testing.T) {
	ctx := context.Background()
	for name, c := range map[string]struct{ driver, database string }{
		"SQLite":     {"sqlite", filepath.Join(t.TempDir(), "homeserver.db")},
		"PostgreSQL": {"pgx", testenv.PostgresDB(t)},
	} {
		t.Run(name, func(t *testing.T) {
			raw, err := sql.Open(c.driver, c.database)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			if _, err := raw.Exec(`CREATE TABLE local_media_repository (media_id TEXT)`); err != nil {
				t.Fatal(err)
			}
			db, err := importer.OpenDB(ctx, c.database)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			for _, stmt := range []string{
				`INSERT INTO local_media_repository VALUES ('x')`,
				`UPDATE local_media_repository SET media_id = 'y'`,
				`DELETE FROM local_media_repository`,
				`CREATE TABLE mediarepo_was_here (a INTEGER)`,
			} {
				if _, err := db.ExecContext(ctx, stmt); err == nil {
					t.Errorf("%s went through the import's connection", stmt)
				}
			}
			var n int
			if err := db.QueryRowContext(ctx, `SELECT count(*) FROM local_media_repository`).Scan(&n); err != nil || n != 0 {
				t.Fatalf("reading: %d rows, %v", n, err)
			}
		})
	}
	if _, err := importer.OpenDB(ctx, filepath.Join(t.TempDir(), "no-such.db")); !errors.Is(err, importer.ErrNoDatabase) {
		t.Fatalf("a missing SQLite file: %v, want ErrNoDatabase (never created)", err)
	}
}
