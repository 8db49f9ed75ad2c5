package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"time"

	"github.com/mediarepo/mediarepo/internal/audit"
	"github.com/mediarepo/mediarepo/internal/config"
	"github.com/mediarepo/mediarepo/internal/queue"
	"github.com/mediarepo/mediarepo/internal/scan"
	"github.com/mediarepo/mediarepo/internal/service"
	"github.com/mediarepo/mediarepo/internal/worker"
)

// InstanceName names this process for leases and logs: program, host and
// a random suffix, unique per process.
func InstanceName(program string) string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return program + "@" + host + "-" + hex.EncodeToString(b[:])
}

// OpenQueue opens the scan-job queue with the configured settings; every
// process must use the same ones (the stream and consumer are updated to
// them).
func OpenQueue(ctx context.Context, s *Server) (*queue.Queue, error) {
	cfg := s.cfg
	return queue.New(ctx, s.nats.JS, queue.Options{Replicas: cfg.NATS.Replicas,
		AckWait: cfg.Scan.AckWait.D(), MaxDeliver: cfg.Scan.MaxDeliver}, s.log, s.registry)
}

// ReconcilerOptions are the reconciler's settings from the configuration,
// for holder (InstanceName): the same in mediarepo's in-process workers and
// in scanworker.
func ReconcilerOptions(cfg config.Config, holder string) worker.ReconcilerOptions {
	return worker.ReconcilerOptions{Holder: holder, RemoteRetention: cfg.Federation.RemoteRetention.D(),
		Interval: cfg.Maintenance.Interval.D(), GCGrace: cfg.Maintenance.OrphanGrace.D(), StuckAfter: cfg.Maintenance.StuckAfter.D(),
		Rescan: worker.RescanOptions{Window: cfg.Scan.RescanWindow.D(), Rate: cfg.Scan.RescanRate}}
}

// buildScanning opens the queue the uploads publish to and, when
// scan.workers > 0, prepares the in-process scan workers (the embedded
// default's, or any mediarepo's that is told to scan too). It returns the
// queue as the service's job publisher, or nil with dev_mark_clean.
func (s *Server) buildScanning(ctx context.Context) (service.Jobs, error) {
	cfg := s.cfg
	if cfg.Scan.DevMarkClean {
		return nil, nil
	}
	q, err := OpenQueue(ctx, s)
	if err != nil {
		return nil, err
	}
	if cfg.Scan.Workers == 0 {
		s.log.Info("no in-process scan workers (scan.workers: 0): run scanworker processes")
		return q, nil
	}
	scanner, err := NewEngines(cfg.Scan)
	if err != nil {
		return nil, err
	}
	inspector, err := scan.NewArchiveInspector(scan.DefaultArchiveLimits())
	if err != nil {
		return nil, err
	}
	sigs := AddEngineChecks(s.health, scanner, cfg.Scan.MaxSignatureAge.D(), cfg.Embedded, s.registry)
	s.runners = append(s.runners, func(ctx context.Context) error { return sigs.Run(ctx, time.Minute) })
	reports, err := OpenReports(ctx, cfg, s.nats.JS, s.log, s.registry)
	if err != nil {
		return nil, err
	}
	if reports != nil {
		sinks, err := ReportSinks(cfg.Reports)
		if err != nil {
			return nil, err
		}
		s.runners = append(s.runners, func(ctx context.Context) error { return RunReports(ctx, reports, sinks) })
	}
	// The rescan after a signature update records its quarantines here.
	aud, err := audit.Open(ctx, s.nats.JS, audit.Options{Replicas: cfg.NATS.Replicas})
	if err != nil {
		return nil, err
	}
	name := InstanceName("mediarepo")
	s.local = &localKeyScanner{}
	deps := worker.Deps{Catalog: s.catalog, Blobs: s.blobs, Scanner: scanner, Inspector: inspector,
		Queue: q, Enqueuer: q, Log: s.log, Registerer: s.registry, Daily: s.daily, Audit: aud}
	if reports != nil {
		deps.Reports = reports
	}
	s.runners = append(s.runners, func(ctx context.Context) error {
		return worker.Run(ctx, deps, worker.Options{Name: name, Concurrency: cfg.Scan.Workers, ScanTimeout: cfg.Scan.Timeout.D()},
			ReconcilerOptions(cfg, name), func(w *worker.Worker) { s.local.w.Store(w) })
	})
	s.log.Info("in-process scan workers", "count", cfg.Scan.Workers, "engines", engineNames(scanner), "policy", scanner.Policy())
	return q, nil
}

// engineNames lists the engines for logs.
func engineNames(e *scan.Engines) []string {
	var names []string
	for _, x := range e.List() {
		names = append(names, x.Name)
	}
	return names
}
