package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mediarepo/mediarepo/internal/catalog/kv"
	"github.com/mediarepo/mediarepo/internal/catalog/postgres"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/queue"
)

// embeddedNATS starts a JetStream server storing under dir, as the
// embedded default does, and connects to it.
func embeddedNATS(dir string) (jetstream.JetStream, func(), error) {
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoSigs: true, NoLog: true})
	if err != nil {
		return nil, nil, err
	}
	go s.Start()
	if !s.ReadyForConnections(5 * time.Minute) {
		s.Shutdown()
		return nil, nil, fmt.Errorf("embedded NATS not ready")
	}
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		s.Shutdown()
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		s.Shutdown()
		return nil, nil, err
	}
	return js, func() { nc.Close(); s.Shutdown(); s.WaitForShutdown() }, nil
}

// openScale opens the backend's catalog as a restarted mediarepo does.
func openScale(ctx context.Context, backend, dir, dsn string, log *slog.Logger) (*scaleCatalog, error) {
	switch backend {
	case "kv":
		js, stop, err := embeddedNATS(filepath.Join(dir, "nats"))
		if err != nil {
			return nil, err
		}
		c, err := kv.New(ctx, js, kv.Options{}, log, nil)
		if err != nil {
			stop()
			return nil, err
		}
		q, err := queue.New(ctx, js, queue.Options{}, log, nil)
		if err != nil {
			stop()
			return nil, err
		}
		return &scaleCatalog{cat: c, queue: q, note: ", embedded NATS in the process",
			close: func() { _ = c.Close(); stop() }}, nil
	case "postgres":
		c, err := postgres.New(ctx, postgres.Options{DSN: dsn}, log, nil)
		if err != nil {
			return nil, err
		}
		// The job queue stays on JetStream with either catalog.
		js, stop, err := embeddedNATS(filepath.Join(dir, "nats-queue"))
		if err != nil {
			_ = c.Close()
			return nil, err
		}
		q, err := queue.New(ctx, js, queue.Options{}, log, nil)
		if err != nil {
			stop()
			_ = c.Close()
			return nil, err
		}
		return &scaleCatalog{cat: c, queue: q, note: ", PostgreSQL server not counted; embedded NATS for the job queue",
			close: func() { _ = c.Close(); stop() }}, nil
	}
	return nil, fmt.Errorf("unknown backend %q", backend)
}

// benchDatabase creates (afresh when fresh) the database mrbench_scale on
// the server of dsn and returns its URL.
func benchDatabase(ctx context.Context, dsn string, fresh bool) (string, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", fmt.Errorf("PostgreSQL: %w", err)
	}
	defer func() { _ = conn.Close(ctx) }()
	if fresh {
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS mrbench_scale WITH (FORCE)"); err != nil {
			return "", err
		}
		if _, err := conn.Exec(ctx, "CREATE DATABASE mrbench_scale"); err != nil {
			return "", err
		}
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "", err
	}
	u.Path = "/mrbench_scale"
	return u.String(), nil
}

// bulkBatch is the rows per COPY of the PostgreSQL fill after the first
// -api-fill records.
const bulkBatch = 10_000

// fillBulk writes records [from, f.n) with COPY.
func fillBulk(ctx context.Context, c *postgres.Catalog, f scaleFlags, from int) (time.Duration, error) {
	start := time.Now()
	base := time.Now().Add(-time.Duration(f.n) * time.Second)
	z := rand.NewZipf(rand.New(rand.NewPCG(99, 7)), 1.1, 10, uint64(f.uploaders-1))
	for lo := from; lo < f.n; lo += bulkBatch {
		hi := min(lo+bulkBatch, f.n)
		recs := make([]media.Record, 0, hi-lo)
		blobs := make([]media.Blob, 0, hi-lo)
		for i := lo; i < hi; i++ {
			rec, b := fillRecord(i, uploaderName(z.Uint64()), f.quarantined, base.Add(time.Duration(i)*time.Second))
			recs, blobs = append(recs, rec), append(blobs, b)
		}
		if err := c.BulkLoad(ctx, recs, blobs); err != nil {
			return 0, fmt.Errorf("records %d-%d: %w", lo, hi, err)
		}
		if hi%500_000 == 0 {
			el := time.Since(start)
			fmt.Fprintf(os.Stderr, "  copied %d in %s (%.0f/s)\n", hi, el.Round(time.Second), float64(hi-from)/el.Seconds())
		}
	}
	return time.Since(start), nil
}

// scaleBackend fills the backend and measures it in a child process.
func scaleBackend(f scaleFlags, backend string) (scaleResult, error) {
	ctx := context.Background()
	res := scaleResult{Backend: backend, N: f.n, Filled: f.n - f.from}
	log := slog.New(slog.DiscardHandler)
	switch backend {
	case "kv":
		sc, err := openScale(ctx, backend, f.dir, f.dsn, log)
		if err != nil {
			return res, err
		}
		d, err := fill(ctx, sc.cat, f)
		sc.close()
		if err != nil {
			return res, err
		}
		res.FillSeconds = d.Seconds()
		if res.DiskBytes, err = dirSize(filepath.Join(f.dir, "nats")); err != nil {
			return res, err
		}
	case "postgres":
		if f.dsn == "" {
			return res, fmt.Errorf("no PostgreSQL server: set -postgres-dsn or MEDIAREPO_TEST_POSTGRES_URL (make bench-scale does)")
		}
		dsn, err := benchDatabase(ctx, f.dsn, f.from == 0)
		if err != nil {
			return res, err
		}
		f.dsn = dsn
		sc, err := openScale(ctx, backend, f.dir, dsn, log)
		if err != nil {
			return res, err
		}
		// Through the catalog API for the insert rate (at most apiFill
		// records), then COPY for the rest (issue 13 allows it; every
		// figure after the fill is measured through the catalog).
		pg := sc.cat.(*postgres.Catalog)
		api := f
		api.n = min(f.n, max(f.from, f.apiFill))
		d, err := fill(ctx, pg, api)
		var bulk time.Duration
		if err == nil && f.n > api.n {
			bulk, err = fillBulk(ctx, pg, f, api.n)
		}
		if err == nil {
			res.DiskBytes, err = pg.DatabaseSize(ctx)
		}
		sc.close()
		if err != nil {
			return res, err
		}
		res.Filled, res.FillSeconds = api.n-f.from, d.Seconds()
		if f.n > api.n {
			res.BulkNote = fmt.Sprintf("%d records by COPY in batches of %d (postgres.BulkLoad, not the upload path): %.0f records/s",
				f.n-api.n, bulkBatch, float64(f.n-api.n)/bulk.Seconds())
		}
	default:
		return res, fmt.Errorf("unknown backend %q", backend)
	}
	child, err := runChild("-backend", backend, "-dir", f.dir, "-postgres-dsn", f.dsn, "-samples", fmt.Sprint(f.samples))
	if err != nil {
		return res, err
	}
	child.FillNote = fmt.Sprintf("%d writers", f.writers)
	switch backend {
	case "kv":
		child.FillNote += ", embedded NATS, default sync_interval"
	case "postgres":
		child.FillNote += ", one transaction each, the server's synchronous_commit"
	}
	res.Child = child
	return res, nil
}
