package app

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/mediarepo/mediarepo/internal/config"
	"github.com/mediarepo/mediarepo/internal/queue"
	"github.com/mediarepo/mediarepo/internal/sealed"
	"github.com/mediarepo/mediarepo/internal/worker"
)

// CatalogCommand runs the operator's catalog commands, `mediarepo catalog
// <command>` (args start with the command's name):
//   - reindex: the full collection that no periodic pass runs: reads every
//     record and lists the blob store, deletes blobs without a record or
//     upload intent after the grace period, corrects the count of cached
//     remote bytes and repairs the derived indexes (KV). Safe beside
//     running replicas (every change is a compare-and-set or idempotent);
//     with the embedded NATS server, stop mediarepo first (one server per
//     store directory).
//   - migrate: see migrate.go.
func CatalogCommand(ctx context.Context, cfg config.Config, args []string, log *slog.Logger, out io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: mediarepo [-config FILE] catalog <reindex|migrate> [flags]")
	}
	switch args[0] {
	case "reindex":
		fs := flag.NewFlagSet("catalog reindex", flag.ContinueOnError)
		fs.SetOutput(out)
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return reindex(ctx, cfg, log, out)
	case "migrate":
		return migrateCommand(ctx, cfg, args[1:], log, out)
	}
	return fmt.Errorf("catalog: unknown command %q (reindex, migrate)", args[0])
}

// reindex runs the reconciler's FullCollect once.
func reindex(ctx context.Context, cfg config.Config, log *slog.Logger, out io.Writer) error {
	keys, err := LoadMasterKeys(cfg, log)
	if err != nil {
		return err
	}
	backend, err := OpenBackend(ctx, cfg)
	if err != nil {
		return err
	}
	n, err := ConnectNATS(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer n.Close()
	cat, err := OpenCatalog(ctx, cfg, n, log, nil)
	if err != nil {
		return err
	}
	defer cat.Close()
	q, err := queue.New(ctx, n.JS, queue.Options{Replicas: cfg.NATS.Replicas, AckWait: cfg.Scan.AckWait.D(), MaxDeliver: cfg.Scan.MaxDeliver}, log, nil)
	if err != nil {
		return err
	}
	r, err := worker.NewReconciler(cat, sealed.New(backend, keys), q, ReconcilerOptions(cfg, InstanceName("mediarepo-reindex")), log, nil)
	if err != nil {
		return err
	}
	start := time.Now()
	fmt.Fprintln(out, "reading every record and listing the blob store; this takes a while on a large catalog")
	if err := r.FullCollect(ctx); err != nil {
		return err
	}
	fmt.Fprintf(out, "catalog reindexed and blobs collected in %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}
