package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediarepo/mediarepo/internal/queue"
	"github.com/mediarepo/mediarepo/internal/scan"
)

// Queue is the scan job queue as the workers use it (*queue.Queue).
type Queue interface {
	// Consume hands deliveries to handle, at most concurrency at a time,
	// until ctx ends; it returns after the running handlers returned.
	Consume(ctx context.Context, concurrency int, handle func(context.Context, *queue.Delivery)) error
	// Pending returns the number of jobs waiting to be delivered.
	Pending(ctx context.Context) (uint64, error)
	// AckWait is the consumer's AckWait; heartbeats go every third of it.
	AckWait() time.Duration
}

// Run consumes jobs from q with Options.Concurrency concurrent scans, and
// keeps the clamd-up and queue-depth gauges current, until ctx ends. The
// heartbeat interval follows q's AckWait. Call Run once per Worker.
func (w *Worker) Run(ctx context.Context, q Queue) error {
	if aw := q.AckWait(); aw > 0 {
		w.opts.AckWait = aw
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { w.watchHealth(ctx, q) })
	err := q.Consume(ctx, w.opts.Concurrency, func(ctx context.Context, d *queue.Delivery) { w.Handle(ctx, d) })
	cancel()
	wg.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// watchHealth pings clamd and samples the queue depth every
// HealthInterval until ctx ends.
func (w *Worker) watchHealth(ctx context.Context, q Queue) {
	t := time.NewTicker(w.opts.HealthInterval)
	defer t.Stop()
	up := -1.0
	for {
		now := 0.0
		if w.Ready(ctx) == nil {
			now = 1
		}
		if now != up && ctx.Err() == nil {
			if now == 1 {
				w.log.Info("clamd is up")
			} else {
				w.log.Error("clamd is down: scans are retried with backoff, nothing is marked clean")
			}
			up = now
		}
		w.metrics.clamdUp.Set(now)
		if n, err := q.Pending(ctx); err == nil {
			w.metrics.queueDepth.Set(float64(n))
		} else if ctx.Err() == nil {
			w.log.Warn("sampling the queue depth failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Ready pings the engine (bounded by 5 s); nil when it answers. For
// /readyz.
func (w *Worker) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return w.scanner.Ping(ctx)
}

// Deps are the parts Run wires together.
type Deps struct {
	// Catalog is the full catalog (a catalog.Catalog): the workers and the
	// reconciler use parts of it.
	Catalog ReconcilerCatalog
	// Blobs is the sealed store over the configured backend (sealed.Store).
	Blobs interface {
		Blobs
		BlobLister
	}
	Scanner scan.Scanner
	// Inspector checks zip archives before the engine (required in
	// production: scan.NewArchiveInspector(scan.DefaultArchiveLimits())).
	Inspector *scan.ArchiveInspector
	Queue     Queue
	// Enqueuer re-publishes jobs of stuck media (the queue's publisher).
	Enqueuer Enqueuer
	Log      *slog.Logger
	// Registerer takes the metrics; nil registers none.
	Registerer prometheus.Registerer
	// Daily counts infections and blocks per day; nil counts nothing.
	Daily DailyCounter
	// Reports, when set, takes an infection report of every verdict that
	// is not clean (report.Outbox).
	Reports Reporter
	// Audit, when set, records the rescan's quarantines (audit.Log).
	Audit Auditor
}

// Run builds the Worker and the Reconciler from deps and runs both until
// ctx ends: the scan workers of cmd/scanworker, and the in-process workers
// of the embedded default in cmd/mediarepo. It returns the Worker (for
// /readyz) through ready as soon as it is built, if ready is not nil.
func Run(ctx context.Context, deps Deps, opts Options, ropts ReconcilerOptions, ready func(*Worker)) error {
	w, err := New(deps.Catalog, deps.Blobs, deps.Scanner, deps.Inspector, opts, deps.Log.With("component", "worker"), deps.Registerer)
	if err != nil {
		return err
	}
	w.daily = deps.Daily
	if deps.Reports != nil {
		w.SetReporter(deps.Reports)
	}
	if ropts.MediaPrefix == "" {
		ropts.MediaPrefix = w.opts.MediaPrefix
	}
	r, err := NewReconciler(deps.Catalog, deps.Blobs, deps.Enqueuer, ropts, deps.Log.With("component", "reconciler"), deps.Registerer)
	if err != nil {
		return err
	}
	if ropts.Rescan.Rate > 0 {
		rs, err := NewRescanner(w, deps.Catalog, deps.Audit, ropts.Rescan, deps.Log.With("component", "rescan"), deps.Registerer)
		if err != nil {
			return err
		}
		r.SetRescanner(rs)
	}
	if ready != nil {
		ready(w)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 2)
	go func() { errs <- w.Run(ctx, deps.Queue) }()
	go func() { errs <- r.Run(ctx) }()
	first := <-errs
	cancel()
	second := <-errs
	if err := errors.Join(first, second); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	return nil
}
