package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/mediarepo/mediarepo/internal/config"
)

// migrateCommand copies a KV catalog into PostgreSQL
// (`mediarepo catalog migrate --from kv --to postgres`).
func migrateCommand(ctx context.Context, cfg config.Config, args []string, log *slog.Logger, out io.Writer) error {
	return fmt.Errorf("catalog migrate: the PostgreSQL backend is not available in this build")
}
