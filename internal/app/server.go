package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/mediarepo/mediarepo/internal/auth"
	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/config"
	"github.com/mediarepo/mediarepo/internal/daily"
	"github.com/mediarepo/mediarepo/internal/httpapi"
	"github.com/mediarepo/mediarepo/internal/sealed"
	"github.com/mediarepo/mediarepo/internal/service"
	"github.com/mediarepo/mediarepo/internal/storage"
	"github.com/mediarepo/mediarepo/internal/thumbnail"
)

// Server is mediarepo wired from its configuration.
type Server struct {
	// Public serves the Matrix media API.
	Public http.Handler
	// Admin serves /metrics, /healthz and /readyz (and later the officers).
	Admin http.Handler

	cfg      config.Config
	log      *slog.Logger
	nats     *NATS
	catalog  Catalog
	blobs    *sealed.Store
	runners  []func(context.Context) error
	closers  []func()
	health   *Health
	registry *prometheus.Registry
	// officers serves the officers' page and API on the admin listener
	// (nil until built); see officers.go.
	officers http.Handler
	svc      *service.Service
	jobs     service.Jobs
	// authn checks access tokens for the public API and the officers.
	authn auth.Authenticator
	// thumbs generates thumbnails (nil when disabled).
	thumbs httpapi.Thumbnails
	// local scans encrypted attachments with the in-process workers.
	local *localKeyScanner
	// daily counts infections and blocks per day (the officers' chart).
	daily *daily.Counters
}

// NewServer builds every part; Run starts the background work, Close
// releases what NewServer opened.
func NewServer(ctx context.Context, cfg config.Config, log *slog.Logger) (*Server, error) {
	s := &Server{cfg: cfg, log: log, registry: prometheus.NewRegistry(), health: NewHealth()}
	s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.runners = append(s.runners, newMemoryReleaser(s.registry).Run) // memory.go
	if err := s.build(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Server) build(ctx context.Context) error {
	cfg, log := s.cfg, s.log
	authn, err := s.authenticator()
	if err != nil {
		return err
	}
	s.authn = authn
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
	backend = storage.Instrument(backend, s.registry)
	s.blobs = sealed.New(backend, keys)
	s.health.Add("blob_store", StoreCheck(backend))
	n, err := ConnectNATS(ctx, cfg, log)
	if err != nil {
		return err
	}
	s.nats = n
	s.closers = append(s.closers, n.Close)
	s.health.Add("nats", NATSCheck(n))
	s.catalog, err = OpenCatalog(ctx, cfg, n, log, s.registry)
	if err != nil {
		return err
	}
	s.closers = append(s.closers, func() { _ = s.catalog.Close() })
	if check := CatalogCheck(s.catalog); check != nil {
		s.health.Add("catalog", check)
	}
	if s.daily, err = daily.New(ctx, n.JS, "", cfg.NATS.Replicas); err != nil {
		return err
	}
	jobs, err := s.buildScanning(ctx)
	if err != nil {
		return err
	}
	s.jobs = jobs
	svc := service.New(s.blobs, s.catalog, jobs, service.Options{
		MaxUploadSize: int64(cfg.Media.MaxUploadSize), BlockedTypes: cfg.Media.BlockedTypes,
		UnusedExpiresAfter: cfg.Media.UnusedExpiresAfter.D(), MaxPendingCreates: cfg.Media.MaxPendingCreates,
		UploadWait: cfg.Scan.UploadWait.D(), DevMarkClean: cfg.Scan.DevMarkClean,
		RefuseOpaque: cfg.Media.OpaqueContent == "refuse",
		MemoryBudget: int64(cfg.Limits.MemoryBudget), Buffering: storeBuffering(cfg), MaxUploadsPerUser: cfg.Limits.MaxUploadsPerUser,
	}, log, s.registry)
	q := cfg.Quotas
	svc.EnableQuotas(s.catalog, service.Quotas{InfoURI: q.InfoURI, IncreaseURI: q.IncreaseURI,
		Limit: func(user string) catalog.Usage {
			b, f := q.Limit(user)
			return catalog.Usage{Bytes: b, Files: f}
		}})
	s.thumbs = s.thumbnails(svc)
	scanner, err := s.scannerOptions(svc)
	if err != nil {
		return err
	}
	s.svc = svc
	previews, err := s.previews(svc)
	if err != nil {
		return err
	}
	hosts := hostMap(cfg)
	proxies, err := cfg.HTTP.TrustedProxyPrefixes()
	if err != nil {
		return err
	}
	def := ""
	if len(cfg.Servers) == 1 {
		def = cfg.Servers[0].Name
	}
	s.Public = httpapi.New(svc, authn, httpapi.Options{
		Hosts: hosts, DefaultServer: def, DefaultWait: 20 * time.Second, MaxWait: cfg.Media.MaxDownloadWait.D(),
		LegacyFreeze: cfg.Media.LegacyFreezeTime(), MinBodyRate: int64(cfg.HTTP.MinBodyRate),
		UploadsPerSecond: cfg.Limits.UploadsPerSecond, UploadBurst: cfg.Limits.UploadBurst,
		DownloadsPerSecond: cfg.Limits.DownloadsPerSecond, DownloadBurst: cfg.Limits.DownloadBurst,
		ClientAddrs:              httpapi.NewClientAddrs(proxies),
		UnauthenticatedPerSecond: cfg.Limits.UnauthenticatedPerSecond, UnauthenticatedBurst: cfg.Limits.UnauthenticatedBurst,
		FailedAuthPerSecond: cfg.Limits.FailedAuthPerSecond, FailedAuthBurst: cfg.Limits.FailedAuthBurst,
		ScansPerSecond: cfg.Limits.ScansPerSecond, ScanBurst: cfg.Limits.ScanBurst, MaxConcurrentScans: cfg.Limits.MaxConcurrentScans,
		GuestUploads: cfg.Auth.GuestUploads,
		Scanner:      scanner, Thumbnails: s.thumbs,
		Previews: previews, PreviewsPerSecond: cfg.URLPreview.PerSecond, PreviewBurst: cfg.URLPreview.Burst,
	}, log, s.registry)
	if err := s.buildFederation(ctx); err != nil {
		return err
	}
	if err := s.buildOfficers(ctx); err != nil {
		return err
	}
	s.Admin = s.adminHandler()
	return nil
}

// storeBuffering is what the configured blob store holds in memory per
// upload (the S3 store buffers parts; the filesystem store nothing).
func storeBuffering(cfg config.Config) service.Buffering {
	if cfg.Storage.Backend != "s3" {
		return service.Buffering{}
	}
	part := int64(cfg.Storage.S3.PartSize)
	return service.Buffering{SinglePut: part, Known: part * int64(cfg.Storage.S3.Concurrency), Unknown: part}
}

// Run runs the background work (scan workers, reconciler) until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, len(s.runners))
	for _, r := range s.runners {
		go func() { errc <- r(ctx) }()
	}
	for range s.runners {
		if err := <-errc; err != nil && ctx.Err() == nil {
			return err
		}
	}
	<-ctx.Done()
	return nil
}

// Close releases connections in reverse order of opening.
func (s *Server) Close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}

func (s *Server) adminHandler() http.Handler {
	mux := AdminMux(s.registry, s.health)
	if s.cfg.HTTP.Pprof {
		AddProfiling(mux)
	}
	if s.officers != nil {
		mux.Handle("/", s.officers)
	}
	return mux
}

// thumbnails builds the thumbnail flow (nil when disabled).
func (s *Server) thumbnails(svc *service.Service) httpapi.Thumbnails {
	c := s.cfg.Thumbnails
	if !c.Enabled {
		return nil
	}
	lim := thumbnail.DefaultLimits()
	lim.MaxPixels, lim.MaxFrames = c.MaxPixels, c.MaxFrames
	lim.MaxInputBytes = min(lim.MaxInputBytes, int64(s.cfg.Media.MaxUploadSize))
	return service.NewThumbnails(svc, s.blobs, lim, c.Concurrency, s.registry)
}

// authenticator returns the token check: the embedded default's static
// tokens (prepared on first start), or whoami against each server name's
// homeserver.
func (s *Server) authenticator() (auth.Authenticator, error) {
	cfg := s.cfg
	if cfg.Auth.Mode == "static" {
		tokensPath, err := PrepareEmbedded(cfg, s.log)
		if err != nil {
			return nil, err
		}
		return auth.LoadStaticFile(tokensPath)
	}
	hs := map[string]string{}
	for _, sn := range cfg.Servers {
		hs[sn.Name] = sn.Homeserver
	}
	return auth.NewWhoami(hs, &http.Client{Timeout: cfg.Auth.Timeout.D()}, cfg.Auth.CacheTTL.D(), cfg.Auth.NegativeTTL.D()), nil
}
