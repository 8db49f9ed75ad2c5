// Command mediarepo serves the Matrix media API: uploads are sealed into
// the blob store and queued for scanning; only clean media is served. With
// no configuration it runs the embedded default (in-process NATS, the
// filesystem store, in-process scan workers, a development token).
// `mediarepo import synapse|dendrite …` imports a homeserver's media
// (import.go).
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

	"github.com/mediarepo/mediarepo/internal/app"
	"github.com/mediarepo/mediarepo/internal/config"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "import" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := runImport(ctx, os.Args[2:], app.NewLogger())
		stop()
		os.Exit(code)
	}
	configPath := flag.String("config", os.Getenv("MEDIAREPO_CONFIG"), "YAML configuration file (empty: the embedded default)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := app.NewLogger()
	if flag.Arg(0) == "catalog" {
		// Operator commands: `mediarepo [-config FILE] catalog <reindex|migrate>`.
		cfg, err := config.Load(*configPath, os.Getenv)
		if err == nil {
			err = app.CatalogCommand(ctx, cfg, flag.Args()[1:], log, os.Stdout)
		}
		if err != nil {
			log.Error("mediarepo catalog failed", "err", err)
			os.Exit(1)
		}
		return
	}
	if err := run(ctx, *configPath, log); err != nil {
		log.Error("mediarepo stopped", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, configPath string, log *slog.Logger) error {
	cfg, err := config.Load(configPath, os.Getenv)
	if err != nil {
		return err
	}
	srv, err := app.NewServer(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer srv.Close()

	public := &http.Server{Addr: cfg.Listen, Handler: srv.Public,
		ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout.D(), IdleTimeout: cfg.HTTP.IdleTimeout.D(),
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	admin := &http.Server{Addr: cfg.AdminListen, Handler: srv.Admin,
		ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout.D(), IdleTimeout: cfg.HTTP.IdleTimeout.D(),
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	errc := make(chan error, 3)
	for _, s := range []*http.Server{public, admin} {
		go func() {
			if err := s.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("listener %s: %w", s.Addr, err)
			}
		}()
	}
	go func() { errc <- srv.Run(ctx) }()
	log.Info("listening", "public", "http://"+cfg.Listen, "admin", "http://"+cfg.AdminListen)

	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_ = admin.Shutdown(shutdownCtx) // best effort on the way out
	if serr := public.Shutdown(shutdownCtx); serr != nil && err == nil {
		err = serr
	}
	return err
}
