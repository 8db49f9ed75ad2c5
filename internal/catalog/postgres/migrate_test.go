package postgres

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

func testPool(t *testing.T, dsn string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// TestUpgradeFromFirstSchema: a catalog written by a binary that knew only
// the first schema is migrated at start, and its records are found by the
// indexes the later schema added.
func TestUpgradeFromFirstSchema(t *testing.T) {
	ctx := t.Context()
	dsn := testenv.PostgresDB(t)
	pool := testPool(t, dsn)
	if from, to, err := migrate(ctx, pool, 1); err != nil || from != 0 || to != 1 {
		t.Fatalf("migrate to 1: %d → %d, %v", from, to, err)
	}
	// Rows as the first schema's binary wrote them.
	at := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	remote := media.NewPending("remote.example", "old", "", at, media.Content{Size: 3, SHA256: strings.Repeat("ab", 32), BlobKey: "media/old"})
	remote.Remote = true
	remote, err := remote.Apply(media.Change{Transition: media.VerdictClean, At: at, Actor: "w",
		Verdict: &media.Verdict{Result: media.ResultClean, ScannedAt: at}})
	if err != nil {
		t.Fatal(err)
	}
	res := media.NewReserved("example.org", "res", "@alice:example.org", at, at.Add(time.Hour))
	for _, rec := range []media.Record{remote, res} {
		r, err := encodeRecord(rec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, `INSERT INTO records (origin, id, state, sha256, uploader, changed_ns, record, revision)
			VALUES ($1, $2, $3, $4, $5, $6, $7, nextval('catalog_revision'))`,
			r.origin, r.id, r.state, r.sha256, r.uploader, r.changedNS, r.data); err != nil {
			t.Fatal(err)
		}
	}
	c := newTestCatalog(t, Options{DSN: dsn})
	var version int
	if err := pool.QueryRow(ctx, "SELECT max(version) FROM schema_migrations").Scan(&version); err != nil || version != SchemaVersion() || version < 2 {
		t.Fatalf("schema version %d after start (%v), want %d (≥ 2)", version, err, SchemaVersion())
	}
	var found []string
	if err := c.ListRemoteBefore(ctx, at.Add(time.Minute), func(e catalog.Entry) error {
		found = append(found, e.Record.ID)
		return nil
	}); err != nil || len(found) != 1 || found[0] != "old" {
		t.Fatalf("remote retention after the upgrade = %v, %v", found, err)
	}
	// The reservation counts against its uploader's limit.
	_, err = c.Reserve(ctx, media.NewReserved("example.org", "res2", "@alice:example.org", at, at.Add(time.Hour)), 1)
	if !errors.Is(err, media.ErrLimitExceeded) {
		t.Fatalf("Reserve over the limit after the upgrade: %v", err)
	}
	// A second start finds nothing to do.
	if from, to, err := migrate(ctx, pool, 0); err != nil || from != to {
		t.Fatalf("second migrate: %d → %d, %v", from, to, err)
	}
}

// TestSchemaTooNew: a database migrated by a newer binary is refused with
// a message that says so, and nothing is changed.
func TestSchemaTooNew(t *testing.T) {
	ctx := t.Context()
	dsn := testenv.PostgresDB(t)
	newTestCatalog(t, Options{DSN: dsn})
	pool := testPool(t, dsn)
	future := SchemaVersion() + 1
	if _, err := pool.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, 'from the future')", future); err != nil {
		t.Fatal(err)
	}
	_, err := New(ctx, Options{DSN: dsn}, testLogger(t), prometheus.NewRegistry())
	if !errors.Is(err, ErrSchemaTooNew) || !strings.Contains(err.Error(), "version") {
		t.Fatalf("start on a newer schema: %v, want ErrSchemaTooNew", err)
	}
}

// TestConcurrentStarts: replicas starting at once on an empty database
// migrate it once (the advisory lock), and all of them start.
func TestConcurrentStarts(t *testing.T) {
	dsn := testenv.PostgresDB(t)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			c, err := New(t.Context(), Options{DSN: dsn, PoolSize: 2}, testLogger(t), nil)
			if err == nil {
				_ = c.Close()
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := testPool(t, dsn).QueryRow(t.Context(), "SELECT count(*) FROM schema_migrations").Scan(&n); err != nil || n != SchemaVersion() {
		t.Fatalf("%d migrations recorded (%v), want %d", n, err, SchemaVersion())
	}
}

// TestUnreachable: a database that does not answer fails the start within
// the connect timeout with catalog.ErrUnavailable and a message naming it.
func TestUnreachable(t *testing.T) {
	start := time.Now()
	_, err := New(context.Background(), Options{DSN: "postgres://postgres@127.0.0.1:1/none?sslmode=disable", ConnectTimeout: 3 * time.Second}, testLogger(t), nil)
	if !errors.Is(err, catalog.ErrUnavailable) || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("start without a database: %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the refusal took %s", d)
	}
	if _, err := New(context.Background(), Options{DSN: "::not a dsn::"}, testLogger(t), nil); err == nil {
		t.Fatal("a broken DSN was accepted")
	}
}
