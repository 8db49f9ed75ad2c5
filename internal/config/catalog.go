package config

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// Catalog selects and configures the catalog backend (README: "Which
// catalog backend").
type Catalog struct {
	// Backend is "kv" (NATS JetStream key-value buckets: the embedded
	// default and small servers) or "postgres" (production).
	Backend string `yaml:"backend"`
	// Postgres configures the PostgreSQL backend.
	Postgres CatalogPostgres `yaml:"postgres"`
}

// CatalogPostgres configures the PostgreSQL catalog. The connection string
// is a secret (it may hold a password): it is read from a file.
type CatalogPostgres struct {
	// DSNFile holds the connection string, a postgres:// URL or key=value
	// pairs (env MEDIAREPO_CATALOG_DSN_FILE overrides). Required with the
	// postgres backend.
	DSNFile string `yaml:"dsn_file"`
	// PoolSize is the most connections a process opens (16); the listener
	// of waiting downloads holds one more.
	PoolSize int `yaml:"pool_size"`
	// ConnectTimeout bounds reaching the database at start (10s).
	ConnectTimeout Duration `yaml:"connect_timeout"`
}

func defaultCatalog() Catalog {
	return Catalog{Backend: "kv", Postgres: CatalogPostgres{PoolSize: 16, ConnectTimeout: Duration(10 * time.Second)}}
}

// DSN reads the connection string from DSNFile (surrounding white space
// removed). Errors never contain the file's content.
func (p CatalogPostgres) DSN() (string, error) {
	b, err := os.ReadFile(p.DSNFile)
	if err != nil {
		return "", fmt.Errorf("catalog.postgres.dsn_file: %w", err)
	}
	dsn := strings.TrimSpace(string(b))
	if dsn == "" {
		return "", fmt.Errorf("catalog.postgres.dsn_file: %s is empty", p.DSNFile)
	}
	return dsn, nil
}

// validate reports the problems of the catalog settings.
func (c Catalog) validate() []error {
	var errs []error
	switch c.Backend {
	case "kv":
	case "postgres":
		if c.Postgres.DSNFile == "" {
			errs = append(errs, fmt.Errorf("catalog.postgres.dsn_file: required with catalog.backend postgres"))
		}
	default:
		errs = append(errs, fmt.Errorf("catalog.backend: %q is not kv or postgres", c.Backend))
	}
	if c.Postgres.PoolSize < 1 || c.Postgres.PoolSize > 1000 {
		errs = append(errs, fmt.Errorf("catalog.postgres.pool_size: %d is not within 1..1000", c.Postgres.PoolSize))
	}
	if c.Postgres.ConnectTimeout <= 0 {
		errs = append(errs, fmt.Errorf("catalog.postgres.connect_timeout: must be > 0"))
	}
	return errs
}
