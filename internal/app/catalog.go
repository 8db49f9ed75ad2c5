package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/catalog/kv"
	"github.com/mediarepo/mediarepo/internal/catalog/postgres"
	"github.com/mediarepo/mediarepo/internal/config"
)

// Catalog is an open catalog backend; Close releases what it holds (its
// shared watch or listener, its connections), never the NATS connection.
type Catalog interface {
	catalog.Catalog
	Close() error
}

// OpenCatalog opens the configured catalog backend (catalog.backend): the
// one place that knows the backends by name. With PostgreSQL, an
// unreachable database fails here, within catalog.postgres.connect_timeout,
// with an error that says so.
func OpenCatalog(ctx context.Context, cfg config.Config, n *NATS, log *slog.Logger, reg prometheus.Registerer) (Catalog, error) {
	switch cfg.Catalog.Backend {
	case "postgres":
		p := cfg.Catalog.Postgres
		dsn, err := p.DSN()
		if err != nil {
			return nil, err
		}
		return postgres.New(ctx, postgres.Options{DSN: dsn, PoolSize: p.PoolSize, ConnectTimeout: p.ConnectTimeout.D()}, log, reg)
	case "kv", "":
		return kv.New(ctx, n.JS, kv.Options{Replicas: cfg.NATS.Replicas}, log, reg)
	}
	return nil, fmt.Errorf("catalog.backend: unknown backend %q", cfg.Catalog.Backend)
}

// CatalogCheck is the readiness check of catalogs that can tell (the
// PostgreSQL one pings its database); nil for the others, whose health is
// the NATS connection's.
func CatalogCheck(c Catalog) func(context.Context) error {
	if p, ok := c.(interface{ Ping(context.Context) error }); ok {
		return p.Ping
	}
	return nil
}
