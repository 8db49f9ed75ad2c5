// Command scanworker consumes scan jobs, reads and unseals the blobs,
// scans them with clamd and writes the verdicts (internal/worker); it also
// runs the reconciler under the catalog's leader lease. It reads the same
// YAML as mediarepo; scan.workers is its number of concurrent scans (at
// least 1). Its admin listener serves /metrics, /healthz and /readyz.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/mediarepo/mediarepo/internal/app"
	"github.com/mediarepo/mediarepo/internal/audit"
	"github.com/mediarepo/mediarepo/internal/config"
	"github.com/mediarepo/mediarepo/internal/daily"
	"github.com/mediarepo/mediarepo/internal/queue"
	"github.com/mediarepo/mediarepo/internal/report"
	"github.com/mediarepo/mediarepo/internal/scan"
	"github.com/mediarepo/mediarepo/internal/sealed"
	"github.com/mediarepo/mediarepo/internal/storage"
	"github.com/mediarepo/mediarepo/internal/worker"
)

func main() {
	configPath := flag.String("config", os.Getenv("MEDIAREPO_CONFIG"), "YAML configuration file (the same as mediarepo's)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := app.NewLogger()
	if err := run(ctx, *configPath, log); err != nil {
		log.Error("scanworker stopped", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, configPath string, log *slog.Logger) error {
	cfg, err := config.Load(configPath, os.Getenv)
	if err != nil {
		return err
	}
	if len(cfg.Scan.EngineList()) == 0 {
		return errors.New("scan.clamd or scan.engines: a scanworker needs its engines")
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	keys, err := app.LoadMasterKeys(cfg, log)
	if err != nil {
		return err
	}
	backend, err := app.OpenBackend(ctx, cfg)
	if err != nil {
		return err
	}
	backend = storage.Instrument(backend, reg)
	blobs := sealed.New(backend, keys)
	nc, err := app.ConnectNATS(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	cat, err := app.OpenCatalog(ctx, cfg, nc, log, reg)
	if err != nil {
		return err
	}
	defer cat.Close()
	q, err := queue.New(ctx, nc.JS, queue.Options{Replicas: cfg.NATS.Replicas, AckWait: cfg.Scan.AckWait.D(), MaxDeliver: cfg.Scan.MaxDeliver}, log, reg)
	if err != nil {
		return err
	}
	counts, err := daily.New(ctx, nc.JS, "", cfg.NATS.Replicas)
	if err != nil {
		return err
	}
	scanner, err := app.NewEngines(cfg.Scan)
	if err != nil {
		return err
	}
	inspector, err := scan.NewArchiveInspector(scan.DefaultArchiveLimits())
	if err != nil {
		return err
	}
	// Reports are published here and sent by mediarepo (RunReports).
	reports, err := app.OpenReports(ctx, cfg, nc.JS, log, reg)
	if err != nil {
		return err
	}
	// The rescan after a signature update records its quarantines here.
	aud, err := audit.Open(ctx, nc.JS, audit.Options{Replicas: cfg.NATS.Replicas})
	if err != nil {
		return err
	}
	name := app.InstanceName("scanworker")

	health := app.NewHealth()
	health.Add("nats", app.NATSCheck(nc))
	health.Add("blob_store", app.StoreCheck(backend))
	sigs := app.AddEngineChecks(health, scanner, cfg.Scan.MaxSignatureAge.D(), cfg.Embedded, reg)
	go sigs.Run(ctx, time.Minute)
	adminMux := app.AdminMux(reg, health)
	if cfg.HTTP.Pprof {
		app.AddProfiling(adminMux)
	}
	admin := &http.Server{Addr: cfg.AdminListen, Handler: adminMux,
		ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout.D(), IdleTimeout: cfg.HTTP.IdleTimeout.D(),
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	errc := make(chan error, 2)
	go func() {
		if err := admin.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("admin listener %s: %w", cfg.AdminListen, err)
		}
	}()
	go func() {
		errc <- worker.Run(ctx, worker.Deps{
			Catalog: cat, Blobs: blobs, Scanner: scanner, Inspector: inspector,
			Queue: q, Enqueuer: q, Log: log, Registerer: reg, Daily: counts, Reports: reporter(reports), Audit: aud,
		}, worker.Options{Name: name, Concurrency: max(cfg.Scan.Workers, 1), ScanTimeout: cfg.Scan.Timeout.D()},
			app.ReconcilerOptions(cfg, name), func(w *worker.Worker) {
				// encrypted attachments: request/reply over core NATS (design §2a)
				go func() {
					if err := worker.ServeEncrypted(ctx, nc.Conn, w, log); err != nil {
						errc <- err
					}
				}()
			})
	}()
	log.Info("scanworker running", "name", name, "concurrency", max(cfg.Scan.Workers, 1), "engines", len(scanner.List()), "policy", scanner.Policy(), "admin", "http://"+cfg.AdminListen)
	select {
	case <-ctx.Done():
		err = <-errc // the workers hand back their jobs
	case err = <-errc:
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = admin.Shutdown(shutdownCtx) // best effort on the way out
	return err
}

// reporter is the outbox as the worker's Reporter, nil without sinks.
func reporter(o *report.Outbox) worker.Reporter {
	if o == nil {
		return nil
	}
	return o
}
