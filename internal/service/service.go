// Package service holds the upload and download flows of the Matrix media
// API: streaming an upload once through the size limit, hasher, type
// sniffer and sealing writer into the blob store, recording it in the
// catalog, queueing its scan, and serving only clean media (waiting for a
// verdict where asked). It knows no HTTP.
package service

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/storage"
)

// Blob key prefixes (media.BlobPrefix, media.QuarantinePrefix). Downloads
// read only under MediaPrefix.
const (
	MediaPrefix      = media.BlobPrefix
	QuarantinePrefix = media.QuarantinePrefix
)

// Blobs is the sealed blob store (plaintext offsets and sizes).
type Blobs interface {
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
	Delete(ctx context.Context, key string) error
	// Stat answers an error wrapping storage.ErrNotFound for a missing blob.
	Stat(ctx context.Context, key string) (storage.Info, error)
}

// Catalog is what the flows need of the media catalog. Every write is a
// compare-and-set on the revision; errors wrap media.ErrNotFound,
// media.ErrExists or media.ErrConflict.
type Catalog interface {
	Create(ctx context.Context, rec media.Record) (uint64, error)
	Get(ctx context.Context, origin, id string) (media.Record, uint64, error)
	Update(ctx context.Context, rec media.Record, rev uint64) (uint64, error)
	// WaitFor blocks until done(record) holds or ctx ends.
	WaitFor(ctx context.Context, origin, id string, done func(media.Record) bool) (media.Record, error)
	// Reserve creates a reserved record unless its uploader holds limit
	// open reservations (catalog.Reservations).
	Reserve(ctx context.Context, rec media.Record, limit int) (uint64, error)
	GetBlob(ctx context.Context, sha256 string) (media.Blob, uint64, error)
	CreateBlob(ctx context.Context, b media.Blob) (uint64, error)
	UpdateBlob(ctx context.Context, b media.Blob, rev uint64) (uint64, error)
	DeleteBlob(ctx context.Context, sha256 string, rev uint64) error
	// Upload intents (catalog.Intents): recorded before a blob is put,
	// removed once its record names it.
	PutIntent(ctx context.Context, in catalog.Intent) error
	DeleteIntent(ctx context.Context, blobKey string) error
	// RecordUpload writes an upload's record, blob reference and intent
	// removal together (catalog.Uploads).
	catalog.Uploads
}

// Jobs queues scans. Enqueue is keyed by the record's revision so that a
// rescan is a new job and a retried publish of the same one is not.
type Jobs interface {
	Enqueue(ctx context.Context, rec media.Record, rev uint64) error
}

// Options configure the flows.
type Options struct {
	MaxUploadSize      int64
	BlockedTypes       []string
	UnusedExpiresAfter time.Duration
	MaxPendingCreates  int
	// UploadWait lets an upload wait for its verdict (0: do not wait).
	UploadWait time.Duration
	// DevMarkClean marks uploads clean without scanning (development only).
	DevMarkClean bool
	// RefuseOpaque refuses, on the endpoints that serve without a key,
	// content that looks encrypted (media.opaque_content: refuse).
	RefuseOpaque bool
	// MemoryBudget bounds what uploads and remote fetches in flight may
	// buffer together (0: unbounded); Buffering says what one costs.
	// Past it a write is refused at once (ErrLimitExceeded).
	MemoryBudget int64
	Buffering    Buffering
	// MaxUploadsPerUser bounds one user's uploads in flight (0: unbounded).
	MaxUploadsPerUser int
}

// Service runs uploads and downloads.
type Service struct {
	blobs   Blobs
	catalog Catalog
	jobs    Jobs
	opts    Options
	policy  *TypePolicy
	log     *slog.Logger
	now     func() time.Time
	metrics *metrics
	// remote fetches media of other servers (nil: federation off); remote.go.
	remote *remote
	// admission bounds writes in flight (admission.go).
	admission *admission
	// quota counts uploads per user (nil: no quotas); quota.go.
	quota *quota
}

// New returns a Service. jobs may be nil only with DevMarkClean.
func New(blobs Blobs, catalog Catalog, jobs Jobs, opts Options, log *slog.Logger, reg prometheus.Registerer) *Service {
	if opts.DevMarkClean {
		log.Warn("DEVELOPMENT MODE: uploads are marked clean WITHOUT scanning (scan.dev_mark_clean)")
	}
	return &Service{blobs: blobs, catalog: catalog, jobs: newRetryingJobs(jobs, log), opts: opts,
		policy: NewTypePolicy(opts.BlockedTypes), log: log, now: time.Now, metrics: newMetrics(reg),
		admission: newAdmission(opts.MemoryBudget, opts.Buffering, opts.MaxUploadsPerUser)}
}

// MaxUploadSize is the upload cap in bytes (for the config endpoint).
func (s *Service) MaxUploadSize() int64 { return s.opts.MaxUploadSize }

type metrics struct {
	uploads       *prometheus.CounterVec
	uploadBytes   prometheus.Counter
	downloadBytes prometheus.Counter
	dedup         prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		uploads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediarepo_uploads_total", Help: "Uploads by outcome.",
		}, []string{"outcome"}),
		uploadBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mediarepo_upload_bytes_total", Help: "Plaintext bytes accepted by uploads.",
		}),
		downloadBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mediarepo_download_bytes_total", Help: "Plaintext bytes opened for downloads.",
		}),
		dedup: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mediarepo_upload_dedup_total", Help: "Uploads whose content was already stored.",
		}),
	}
	reg.MustRegister(m.uploads, m.uploadBytes, m.downloadBytes, m.dedup)
	return m
}
