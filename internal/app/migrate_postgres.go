package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/mediarepo/mediarepo/internal/catalog/postgres"
)

// openPostgres opens the PostgreSQL catalog whose connection string is in
// dsnFile, as the migration's destination (its schema is created or
// upgraded on the way, as at a start of mediarepo).
func openPostgres(ctx context.Context, dsnFile string, log *slog.Logger) (Catalog, error) {
	if dsnFile == "" {
		return nil, fmt.Errorf("catalog migrate: name the file that holds the PostgreSQL connection string (--postgres-dsn-file)")
	}
	b, err := os.ReadFile(dsnFile)
	if err != nil {
		return nil, fmt.Errorf("catalog migrate: %w", err)
	}
	return postgres.New(ctx, postgres.Options{DSN: strings.TrimSpace(string(b))}, log, nil)
}
