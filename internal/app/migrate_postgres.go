package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/mediarepo/mediarepo/internal/config"
)

// openPostgres opens the configured PostgreSQL catalog as the migration's
// destination.
func openPostgres(ctx context.Context, cfg config.Config, log *slog.Logger) (Catalog, error) {
	return nil, fmt.Errorf("catalog migrate: the PostgreSQL backend is not in this build yet")
}
