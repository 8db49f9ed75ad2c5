// Package worker turns scan jobs into verdicts (design §1, §2, §5): it
// consumes jobs from the queue, reads the record, reuses the hash-level
// verdict of identical content scanned under the current signatures or
// reads and unseals the blob and runs the archive inspection and the
// engine, writes the verdict with a compare-and-set, blocks known-infected
// hashes, moves infected blobs into quarantine, and only then acks.
//
// # Delivery rules
//
//   - Ack only after the verdict is stored (or when there is nothing to
//     decide: the record is gone or no longer pending; an officer's
//     decision is never overwritten, media.ErrStale drops the verdict).
//   - Transient trouble (clamd down or timing out, storage or catalog
//     errors) hands the job back with NakWithDelay and exponential backoff;
//     nothing is ever marked clean on an error.
//   - On the last delivery (Delivery.Last: NumDelivered reached the
//     consumer's MaxDeliver) a job that still
//     fails marks the media blocked as "scan failed", logs an error, counts
//     mediarepo_scan_failures_total, and is acked so that the work-queue
//     stream drops it.
//   - A blob that is missing, does not authenticate, or whose bytes do not
//     match the record's SHA-256 blocks the media at once (fail closed).
//   - InProgress heartbeats every AckWait/3 keep a long scan's job from
//     being redelivered to another worker; a worker that dies mid-scan
//     (kill -9) stops them, and the job is redelivered after AckWait.
//
// # Quarantine of shared blobs (design §4)
//
// An infected verdict first blocks the hash on the per-hash blob record
// (uploads of the same bytes are refused from then on). The stored blob is
// moved from MediaPrefix to QuarantinePrefix only when no record that uses
// the same blob key is still clean or pending: quarantining one record of
// a shared blob is a state change, not a move; the last record to be
// quarantined (its own verdict, or the reused verdict of the pending
// ones) moves it. After the move the blob record and every record using
// the blob get the new key. The steps are idempotent and run before the
// ack: a worker that dies in between leaves a redelivery that finishes
// them (a record whose last event is a worker's verdict is "settled"
// again). An officer who releases a record whose blob is in quarantine
// must move it back (review's job; until then downloads fail closed,
// because they read only MediaPrefix). The worker decides the move from
// the current records, and looks again after it: a release that raced the
// move (and saw the old key) makes the worker move the blob back.
package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/scan"
	"github.com/mediarepo/mediarepo/internal/storage"
)

// errBlobMismatch marks stored bytes that are not what the record says
// (shorter, longer, another SHA-256): the media is blocked.
var errBlobMismatch = errors.New("stored blob does not match its record")

// Markers of transient errors by cause (for the retries metric).
var (
	errCatalog = errors.New("catalog")
	errStorage = errors.New("storage")
)

// Catalog is what the worker needs of the catalog (catalog.Catalog has it).
type Catalog interface {
	Get(ctx context.Context, origin, id string) (media.Record, uint64, error)
	Modify(ctx context.Context, origin, id string, fn func(*media.Record) error) (media.Record, uint64, error)
	GetBlob(ctx context.Context, sha256 string) (media.Blob, uint64, error)
	ModifyBlob(ctx context.Context, sha256 string, fn func(*media.Blob) error) (media.Blob, uint64, error)
	ByHash(ctx context.Context, sha256 string) ([]catalog.Entry, error)
}

// Blobs is the sealed blob store (sealed.Store has it): plaintext ranges,
// and Move of the sealed bytes without decrypting them.
type Blobs interface {
	Getter
	Stat(ctx context.Context, key string) (storage.Info, error)
	Move(ctx context.Context, from, to string) error
}

// Defaults for Options' zero values.
const (
	DefaultScanTimeout      = 5 * time.Minute
	DefaultAckWait          = 30 * time.Second
	DefaultBackoffBase      = 2 * time.Second
	DefaultBackoffMax       = 2 * time.Minute
	DefaultHealthInterval   = 10 * time.Second
	DefaultMediaPrefix      = media.BlobPrefix
	DefaultQuarantinePrefix = media.QuarantinePrefix
)

// Options configure the workers. Zero values take the defaults above.
type Options struct {
	// Name is the actor recorded in the verdict events ("scanworker").
	Name string
	// Concurrency is the number of jobs scanned at once (config
	// scan.workers); at least 1.
	Concurrency int
	// ScanTimeout bounds one scan (inspection and engine); a scan that
	// runs out is a transient failure.
	ScanTimeout time.Duration
	// AckWait must equal the queue consumer's AckWait: heartbeats are
	// sent every AckWait/3.
	AckWait time.Duration
	// BackoffBase and BackoffMax shape NakWithDelay: base·2^(n-1) for the
	// n-th delivery, at most max, with ±10 % jitter.
	BackoffBase, BackoffMax time.Duration
	// HealthInterval is how often clamd is pinged and the queue depth
	// sampled for the metrics.
	HealthInterval time.Duration
	// MediaPrefix and QuarantinePrefix are the blob key prefixes of
	// servable and quarantined blobs (service.MediaPrefix,
	// service.QuarantinePrefix).
	MediaPrefix, QuarantinePrefix string
}

func (o *Options) defaults() {
	if o.Name == "" {
		o.Name = "scanworker"
	}
	o.Concurrency = max(o.Concurrency, 1)
	set := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	set(&o.ScanTimeout, DefaultScanTimeout)
	set(&o.AckWait, DefaultAckWait)
	set(&o.BackoffBase, DefaultBackoffBase)
	set(&o.BackoffMax, DefaultBackoffMax)
	set(&o.HealthInterval, DefaultHealthInterval)
	if o.MediaPrefix == "" {
		o.MediaPrefix = DefaultMediaPrefix
	}
	if o.QuarantinePrefix == "" {
		o.QuarantinePrefix = DefaultQuarantinePrefix
	}
}

// Worker scans jobs into verdicts. One Worker serves all the concurrent
// scans of a process and shares their metrics; it is safe for concurrent
// use.
type Worker struct {
	cat     Catalog
	blobs   Blobs
	scanner scan.Scanner
	checker *scan.Checker
	opts    Options
	log     *slog.Logger
	metrics *metrics
	now     func() time.Time
	// daily counts infections and blocks per day (nil: not counted).
	daily   DailyCounter
	reports Reporter // nil: no infection reports
}

// DailyCounter counts events per day for the officers' chart
// (daily.Counters).
type DailyCounter interface {
	Add(ctx context.Context, kind string, at time.Time) error
}

// New returns a Worker. inspector may be nil (no archive inspection: not
// for production, where ClamAV lets zip bombs through). reg may be nil.
func New(cat Catalog, blobs Blobs, scanner scan.Scanner, inspector *scan.ArchiveInspector, opts Options, log *slog.Logger, reg prometheus.Registerer) (*Worker, error) {
	if cat == nil || blobs == nil || scanner == nil || log == nil {
		return nil, fmt.Errorf("worker: catalog, blobs, scanner and logger are required")
	}
	opts.defaults()
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &Worker{
		cat: cat, blobs: blobs, scanner: scanner,
		checker: &scan.Checker{Inspector: inspector, Scanner: scanner},
		opts:    opts, log: log, metrics: m,
		now: time.Now,
	}, nil
}

// ScanStream scans a stream with the engine only, under the worker's scan
// timeout and metrics, and stores nothing. It is the seam for scans that
// must not go through the persisted job stream (end-to-end encrypted
// attachments, design §2a: a request/reply over core NATS or an
// in-request scan). The archive inspection needs random access and is not
// applied: a caller that has a ReaderAt should use ScanAt.
func (w *Worker) ScanStream(ctx context.Context, r io.Reader) (scan.Verdict, error) {
	ctx, cancel := context.WithTimeout(ctx, w.opts.ScanTimeout)
	defer cancel()
	start := time.Now()
	v, err := w.scanner.Scan(ctx, r)
	w.metrics.latency.Observe(time.Since(start).Seconds())
	return v, err
}

// ScanAt runs the archive inspection and the engine on r (size bytes)
// under the worker's scan timeout and metrics, and stores nothing.
func (w *Worker) ScanAt(ctx context.Context, r io.ReaderAt, size int64) (scan.Verdict, error) {
	ctx, cancel := context.WithTimeout(ctx, w.opts.ScanTimeout)
	defer cancel()
	return w.scanAt(ctx, r, size)
}
