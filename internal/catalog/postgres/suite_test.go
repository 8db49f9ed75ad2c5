package postgres

import (
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/catalog/catalogtest"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// newTestCatalog opens the catalog on a fresh database of the test
// PostgreSQL.
func newTestCatalog(t testing.TB, opts Options) *Catalog {
	t.Helper()
	if opts.DSN == "" {
		opts.DSN = testenv.PostgresDB(t)
	}
	c, err := New(t.Context(), opts, testLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestConformance runs the catalog suite against a real PostgreSQL.
func TestConformance(t *testing.T) {
	catalogtest.Run(t, func(t *testing.T) catalog.Catalog { return newTestCatalog(t, Options{}) })
}
