package app

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/catalog/kv"
	"github.com/mediarepo/mediarepo/internal/config"
)

// Catalog is an open catalog backend; Close releases what it holds (its
// shared watch or listener, its connections), never the NATS connection.
type Catalog interface {
	catalog.Catalog
	Close() error
}

// OpenCatalog opens the configured catalog backend: the one place that
// knows the backends by name.
func OpenCatalog(ctx context.Context, cfg config.Config, n *NATS, log *slog.Logger, reg prometheus.Registerer) (Catalog, error) {
	return kv.New(ctx, n.JS, kv.Options{Replicas: cfg.NATS.Replicas}, log, reg)
}
