// Package postgres is the catalog (internal/catalog) on PostgreSQL: the
// backend for production (design §5a).
//
// Records, per-hash blob records, leases, counters, per-key verdicts and
// upload intents are rows with real indexes (migrations/). Every change
// that touches several rows is one transaction, so there are no derived
// indexes to repair. Revisions come from one sequence; every write of a
// record or blob record is a compare-and-set on its revision column, with
// the same semantics as the KV backend (catalogtest checks both).
//
// Waiting downloads are woken by LISTEN/NOTIFY (listen.go): a trigger
// notifies at commit, one listener connection per process fans out to the
// waiters.
//
// When the database cannot be reached, calls fail with an error wrapping
// catalog.ErrUnavailable, which the HTTP layer answers with 503.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
)

// Options configure the PostgreSQL catalog. Zero values take the defaults
// named on each field.
type Options struct {
	// DSN is the connection string (a postgres:// URL or key=value pairs).
	// Required.
	DSN string
	// PoolSize is the most connections the pool opens (16). The listener
	// of waiting downloads holds one more.
	PoolSize int
	// ConnectTimeout bounds the first connection at start (10s).
	ConnectTimeout time.Duration
	// KeyVerdictTTL is how long a per-key verdict is kept (24h).
	KeyVerdictTTL time.Duration
	// ModifyAttempts bounds Modify's read → change → CAS retries (32).
	ModifyAttempts int
	// RecheckInterval makes waiting downloads re-read their record even
	// without a notification, as insurance (10s).
	RecheckInterval time.Duration
}

func (o *Options) defaults() {
	if o.PoolSize == 0 {
		o.PoolSize = 16
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.KeyVerdictTTL == 0 {
		o.KeyVerdictTTL = 24 * time.Hour
	}
	if o.ModifyAttempts == 0 {
		o.ModifyAttempts = 32
	}
	if o.RecheckInterval == 0 {
		o.RecheckInterval = 10 * time.Second
	}
}

// Catalog is the catalog on PostgreSQL. It is safe for concurrent use;
// Close stops the listener and closes the pool.
type Catalog struct {
	opts    Options
	log     *slog.Logger
	pool    *pgxpool.Pool
	hub     *hub
	metrics metrics
}

var _ catalog.Catalog = (*Catalog)(nil)

type metrics struct {
	errors    *prometheus.CounterVec
	conflicts *prometheus.CounterVec
	waiters   prometheus.Gauge
	listens   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (metrics, error) {
	shared, err := catalog.NewMetrics(reg, "Starts (and restarts) of the process-wide record watch (PostgreSQL: LISTEN connections).")
	return metrics{errors: shared.Errors, conflicts: shared.Conflicts, waiters: shared.Waiters, listens: shared.WatchStarts}, err
}

// New connects, brings the schema up to date (migrate.go) and returns the
// catalog. An unreachable database fails within Options.ConnectTimeout
// with an error wrapping catalog.ErrUnavailable; a schema newer than this
// binary knows fails with ErrSchemaTooNew. reg may be nil.
func New(ctx context.Context, opts Options, log *slog.Logger, reg prometheus.Registerer) (*Catalog, error) {
	opts.defaults()
	if opts.DSN == "" {
		return nil, errors.New("catalog: PostgreSQL needs a connection string")
	}
	cfg, err := pgxpool.ParseConfig(opts.DSN)
	if err != nil {
		// The parse error may quote the DSN and its password: say less.
		return nil, errors.New("catalog: the PostgreSQL connection string does not parse")
	}
	cfg.MaxConns = int32(opts.PoolSize)
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > opts.ConnectTimeout {
		cfg.ConnConfig.ConnectTimeout = opts.ConnectTimeout
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("catalog: PostgreSQL pool: %w", err)
	}
	sctx, cancel := context.WithTimeout(ctx, opts.ConnectTimeout)
	defer cancel()
	if err := pool.Ping(sctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("catalog: PostgreSQL at %s:%d is unreachable: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, unavailable("connect", err))
	}
	from, to, err := migrate(ctx, pool, 0)
	if err != nil {
		pool.Close()
		return nil, err
	}
	if from != to {
		log.InfoContext(ctx, "catalog: PostgreSQL schema migrated", "from", from, "to", to)
	}
	c := &Catalog{opts: opts, log: log, pool: pool, metrics: m}
	c.hub = newHub(c, cfg.ConnConfig.Copy())
	return c, nil
}

// Close stops the listener and closes the pool.
func (c *Catalog) Close() error {
	c.hub.close()
	c.pool.Close()
	return nil
}

// Ping checks that the database answers (for /readyz).
func (c *Catalog) Ping(ctx context.Context) error {
	if err := c.pool.Ping(ctx); err != nil {
		return unavailable("ping", err)
	}
	return nil
}

// unavailable wraps err in catalog.ErrUnavailable when it says the
// database could not be reached or went away; errors the server reported
// about a statement (and cancellations) are returned as they are.
func unavailable(op string, err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, catalog.ErrUnavailable) || !isConnErr(err) {
		return err
	}
	return fmt.Errorf("%w: %s: %w", catalog.ErrUnavailable, op, err)
}

// isConnErr reports whether err is about the connection rather than the
// statement: a failed connect, a network error, a server shutting down or
// not yet accepting connections (SQLSTATE classes 08 and 57P).
func isConnErr(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		c := pgErr.Code
		return len(c) >= 2 && c[:2] == "08" || c == "57P01" || c == "57P02" || c == "57P03"
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	// A server killed mid-statement cuts the connection: pgx then
	// returns the read's io.ErrUnexpectedEOF (or io.EOF) as it is, and
	// the fault test saw it answered 500.
	return errors.As(err, &connErr) || errors.As(err, &netErr) || pgconn.SafeToRetry(err) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed)
}

// unknownOutcome wraps err in catalog.ErrOutcomeUnknown unless the
// server answered it (a statement's error: nothing was written) or pgx
// knows the write never left (safe to retry); then it is unavailable's.
// A connection cut, a cancellation or a timeout after the statement or
// COMMIT was sent may have happened before or after the server carried
// it out.
func unknownOutcome(op string, err error) error {
	var pgErr *pgconn.PgError
	var connErr *pgconn.ConnectError // no connection: nothing was sent
	if err == nil || errors.As(err, &pgErr) || errors.As(err, &connErr) || pgconn.SafeToRetry(err) ||
		!isConnErr(err) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return unavailable(op, err)
	}
	return fmt.Errorf("%w: %s: %w", catalog.ErrOutcomeUnknown, op, err)
}

// failed maps err (unavailable or not) and counts real failures in the
// errors metric; expected outcomes (not found, exists, conflict) are not.
func (c *Catalog) failed(op string, err error) error {
	if err == nil {
		return nil
	}
	err = unavailable(op, err)
	if !errors.Is(err, media.ErrNotFound) && !errors.Is(err, media.ErrExists) && !errors.Is(err, media.ErrConflict) && !errors.Is(err, context.Canceled) {
		c.metrics.errors.WithLabelValues(op).Inc()
	}
	return err
}
