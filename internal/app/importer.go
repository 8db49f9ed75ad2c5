package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediarepo/mediarepo/internal/audit"
	"github.com/mediarepo/mediarepo/internal/config"
	"github.com/mediarepo/mediarepo/internal/importer"
	"github.com/mediarepo/mediarepo/internal/sealed"
	"github.com/mediarepo/mediarepo/internal/service"
	"github.com/mediarepo/mediarepo/internal/storage"
)

// Importer is mediarepo wired for `mediarepo import`: the same blob store,
// master keys, catalog, scan queue and audit log as the server, and the
// service's import flow, without listeners or scan workers (the scans the
// import queues drain at the running workers' pace).
type Importer struct {
	// Deps are the parts an importer.Run uses.
	Deps importer.Deps
	s    *Server
}

// NewImporter builds the import's parts from the configuration. With the
// embedded NATS server (no nats.url) it opens the data directory's
// JetStream store itself, so the mediarepo process that owns it must be
// stopped first; the queued scans run when it starts again.
func NewImporter(ctx context.Context, cfg config.Config, log *slog.Logger) (*Importer, error) {
	s := &Server{cfg: cfg, log: log, registry: prometheus.NewRegistry(), health: NewHealth()}
	imp := &Importer{s: s}
	if err := imp.build(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return imp, nil
}

func (imp *Importer) build(ctx context.Context) error {
	s := imp.s
	cfg, log := s.cfg, s.log
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	keys, err := LoadMasterKeys(cfg, log)
	if err != nil {
		return err
	}
	backend, err := OpenBackend(ctx, cfg)
	if err != nil {
		return err
	}
	s.blobs = sealed.New(storage.Instrument(backend, s.registry), keys)
	if s.nats, err = ConnectNATS(ctx, cfg, log); err != nil {
		return err
	}
	s.closers = append(s.closers, s.nats.Close)
	if s.catalog, err = OpenCatalog(ctx, cfg, s.nats, log, s.registry); err != nil {
		return err
	}
	s.closers = append(s.closers, func() { _ = s.catalog.Close() })
	var jobs service.Jobs
	if !cfg.Scan.DevMarkClean {
		q, err := OpenQueue(ctx, s)
		if err != nil {
			return err
		}
		jobs = q
	}
	aud, err := audit.Open(ctx, s.nats.JS, audit.Options{Replicas: cfg.NATS.Replicas})
	if err != nil {
		return err
	}
	svc := service.New(s.blobs, s.catalog, jobs, service.Options{
		MaxUploadSize: int64(cfg.Media.MaxUploadSize), BlockedTypes: cfg.Media.BlockedTypes,
		DevMarkClean: cfg.Scan.DevMarkClean,
	}, log, s.registry)
	imp.Deps = importer.Deps{Service: svc, Catalog: s.catalog, Audit: aud, Log: log}
	return nil
}

// ServerNames are the server names mediarepo serves.
func (imp *Importer) ServerNames() []string {
	var names []string
	for _, sn := range imp.s.cfg.Servers {
		names = append(names, sn.Name)
	}
	return names
}

// Close releases the connections.
func (imp *Importer) Close() { imp.s.Close() }
