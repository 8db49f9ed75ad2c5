package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/storage"
)

// ReconcilerCatalog is what the reconciler needs of the catalog
// (catalog.Catalog has it, and the worker's Catalog too).
type ReconcilerCatalog interface {
	Catalog
	ListByState(ctx context.Context, state media.State, fn func(catalog.Entry) error) error
	// Walk reads every record: only the operator's full collection
	// (FullCollect) uses it, never a periodic pass.
	Walk(ctx context.Context, fn func(catalog.Entry) error) error
	// For crashed uploads (intents.go) and remote retention (retention.go).
	catalog.Intents
	ListRemoteBefore(ctx context.Context, before time.Time, fn func(catalog.Entry) error) error
	// For the rescan after a signature update (rescan.go).
	catalog.Rescans
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (catalog.Lease, error)
	ReleaseLease(ctx context.Context, l catalog.Lease) error
	// For the retention of cached remote media (retention.go).
	catalog.BlobRefs
	Delete(ctx context.Context, origin, id string, rev uint64) error
	catalog.Counters
}

// BlobLister lists and deletes stored blobs (storage.Store has it).
type BlobLister interface {
	List(ctx context.Context, prefix string, fn func(storage.Info) error) error
	Delete(ctx context.Context, key string) error
}

// Enqueuer publishes the scan job of a pending record at its revision
// (the queue de-duplicates on media ID plus revision).
type Enqueuer interface {
	Enqueue(ctx context.Context, rec media.Record, rev uint64) error
}

// reindexer is the catalog's optional index repair (kv.Catalog.Reindex):
// the operator's full collection runs it.
type reindexer interface {
	Reindex(ctx context.Context) (catalog.ReindexStats, error)
}

// crashRepairer is the catalog's optional repair after a crash (KV: a
// Reindex when a process of the deployment ended without closing its
// catalog); every pass asks it, and it works only when a crash was seen.
type crashRepairer interface {
	RepairAfterCrash(ctx context.Context) (catalog.ReindexStats, bool, error)
}

// ReconcilerOptions configure the Reconciler; zero values take defaults.
type ReconcilerOptions struct {
	// Name is the actor recorded in expiry events ("reconciler").
	Name string
	// Holder identifies this process for the lease; unique per process
	// (host name plus a random suffix). Required.
	Holder string
	// LeaseName is the leader lock's name ("reconciler").
	LeaseName string
	// LeaseTTL is the lock's time-to-live (30s); it is renewed every
	// TTL/3 during a pass.
	LeaseTTL time.Duration
	// Interval between passes (1m).
	Interval time.Duration
	// StuckAfter is how long a record may stay pending before its job is
	// published again, and how long after such a publish it is left
	// alone (10m).
	StuckAfter time.Duration
	// GCGrace is how old an upload intent (or, in the operator's full
	// collection, a blob without a record) must be before its blob is
	// collected: an upload writes its blob before its record (1h).
	GCGrace time.Duration
	// MediaPrefix is where collectable blobs live ("media/"); quarantined
	// blobs are never collected.
	MediaPrefix string
	// RemoteRetention is how long cached remote media is kept after its
	// fetch (0: forever; federation.remote_retention). See retention.go.
	RemoteRetention time.Duration
	// RetentionEvery is the interval of the retention walk (a tenth of
	// RemoteRetention, within 1s..1h). Interval is shortened to it when
	// longer, so that a short retention is kept to.
	RetentionEvery time.Duration
	// Rescan configures the rescan after a signature update (rescan.go);
	// a zero Rate disables it. Its Interval is the reconciler's.
	Rescan RescanOptions
}

func (o *ReconcilerOptions) defaults() {
	set := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	if o.Name == "" {
		o.Name = "reconciler"
	}
	if o.LeaseName == "" {
		o.LeaseName = "reconciler"
	}
	if o.MediaPrefix == "" {
		o.MediaPrefix = DefaultMediaPrefix
	}
	set(&o.LeaseTTL, 30*time.Second)
	set(&o.Interval, time.Minute)
	set(&o.StuckAfter, 10*time.Minute)
	set(&o.GCGrace, time.Hour)
	if o.RemoteRetention > 0 {
		set(&o.RetentionEvery, min(max(o.RemoteRetention/10, time.Second), time.Hour))
		o.Interval = min(o.Interval, o.RetentionEvery)
	}
}

// Reconciler repairs what crashes and lost messages leave behind (design
// §5), under a leader lease so that one replica does it at a time:
//   - media pending longer than StuckAfter get their job published again
//     at the record's current revision (harmless when the job exists: the
//     queue de-duplicates within its window, and a worker drops a job whose
//     record is decided). A published record is left alone for another
//     StuckAfter, so a long backlog (clamd down) is not flooded with
//     copies; a new leader may publish each stuck record once more.
//   - reservations past ExpiresAt expire.
//   - uploads whose intent is older than GCGrace crashed on the way: what
//     they stored is collected (intents.go).
//   - after a crash of a process of the deployment, catalogs with derived
//     indexes (KV) repair them once (crashRepairer).
//
// No pass reads every record or lists the blob store: each step costs in
// proportion to the media it acts on (indexed states, intents, the remote
// retention index). The full walk, FullCollect, is an operator's command
// (`mediarepo catalog reindex`).
//   - every RetentionEvery, with RemoteRetention set: clean cached remote
//     media older than RemoteRetention is dropped (retention.go).
type Reconciler struct {
	cat     ReconcilerCatalog
	blobs   BlobLister
	jobs    Enqueuer
	opts    ReconcilerOptions
	log     *slog.Logger
	now     func() time.Time
	actions *prometheus.CounterVec
	leader  prometheus.Gauge

	enqueued      map[string]time.Time
	lastRetention time.Time
	rescan        *Rescanner // nil: no rescans
}

// NewReconciler returns a Reconciler. reg may be nil.
func NewReconciler(cat ReconcilerCatalog, blobs BlobLister, jobs Enqueuer, opts ReconcilerOptions, log *slog.Logger, reg prometheus.Registerer) (*Reconciler, error) {
	if cat == nil || blobs == nil || jobs == nil || log == nil {
		return nil, fmt.Errorf("reconciler: catalog, blobs, enqueuer and logger are required")
	}
	if opts.Holder == "" {
		return nil, fmt.Errorf("reconciler: a unique lease holder name is required")
	}
	opts.defaults()
	r := &Reconciler{cat: cat, blobs: blobs, jobs: jobs, opts: opts, log: log, now: time.Now,
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediarepo_reconciler_actions_total",
			Help: "Repairs done by the reconciler, by action (requeued, expired, collected, intent_ref_dropped, reindexed, remote_dropped, remote_bytes_corrected).",
		}, []string{"action"}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mediarepo_reconciler_leader",
			Help: "1 while this process holds the reconciler lease.",
		}),
		enqueued: map[string]time.Time{},
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{r.actions, r.leader} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("reconciler: register metrics: %w", err)
			}
		}
	}
	return r, nil
}

// Run makes a pass every Interval while it holds the lease, until ctx
// ends; it then gives the lease up. Errors of a pass are logged.
func (r *Reconciler) Run(ctx context.Context) error {
	var held *catalog.Lease
	defer func() {
		r.leader.Set(0)
		if held != nil {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = r.cat.ReleaseLease(rctx, *held) // it lapses by its TTL anyway
		}
	}()
	t := time.NewTicker(r.opts.Interval)
	defer t.Stop()
	for {
		l, err := r.cat.AcquireLease(ctx, r.opts.LeaseName, r.opts.Holder, r.opts.LeaseTTL)
		switch {
		case err == nil:
			if held == nil {
				r.log.Info("reconciler lease taken", "holder", r.opts.Holder)
			}
			held = &l
			r.leader.Set(1)
			if err := r.passUnderLease(ctx, l); err != nil && ctx.Err() == nil {
				r.log.Error("reconciler pass failed", "err", err)
			}
		case errors.Is(err, catalog.ErrLeaseHeld):
			held = nil
			r.leader.Set(0)
		case ctx.Err() == nil:
			r.log.Warn("reconciler lease", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// passUnderLease runs Pass while renewing the lease. The pass's context
// ends when a renewal fails or when the lease's local expiry (less a
// margin) passes without one — after a pause of the process past the TTL
// the pass stops before its next write, whatever the renewal says later.
func (r *Reconciler) passUnderLease(ctx context.Context, l catalog.Lease) error {
	margin := leaseMargin(r.opts.LeaseTTL)
	lctx := newLeaseContext(ctx, l.Expires.Add(-margin))
	defer lctx.stop()
	stop := every(r.opts.LeaseTTL/3, func() bool {
		nl, err := r.cat.AcquireLease(ctx, l.Name, l.Holder, r.opts.LeaseTTL)
		if err != nil {
			lctx.lost(fmt.Errorf("reconciler lease lost: %w", err))
			return false
		}
		lctx.extend(nl.Expires.Add(-margin))
		return true
	})
	err := r.Pass(lctx)
	stop()
	if lerr := lctx.Err(); lerr != nil && ctx.Err() == nil {
		r.log.Warn("reconciler lease lost during a pass; stopped before the next write", "holder", l.Holder, "err", lerr)
		return lerr
	}
	return err
}

// Pass runs one reconciliation now (the caller holds the lease): expiry,
// re-enqueueing, crashed uploads and, after a crash, the index repair;
// the remote retention when RetentionEvery has passed.
func (r *Reconciler) Pass(ctx context.Context) error {
	now := r.now()
	errs := []error{r.expire(ctx, now), r.requeue(ctx, now), r.collectIntents(ctx, now), r.repairAfterCrash(ctx)}
	if r.opts.RemoteRetention > 0 && now.Sub(r.lastRetention) >= r.opts.RetentionEvery {
		err := r.retain(ctx, now)
		if err == nil {
			r.lastRetention = now
		}
		errs = append(errs, err)
	}
	if r.rescan != nil {
		// Last: a step takes up to Interval at the configured rate.
		errs = append(errs, r.rescan.Step(ctx))
	}
	return errors.Join(errs...)
}

// SetRescanner makes every pass run a step of the rescan after a
// signature update, under the lease. Call it before Run.
func (r *Reconciler) SetRescanner(s *Rescanner) {
	s.opts.Interval = r.opts.Interval
	r.rescan = s
}

// repairAfterCrash runs the catalog's crash repair when it has one.
func (r *Reconciler) repairAfterCrash(ctx context.Context) error {
	cr, ok := r.cat.(crashRepairer)
	if !ok {
		return nil
	}
	st, ran, err := cr.RepairAfterCrash(ctx)
	if err != nil {
		return fmt.Errorf("repairing the catalog after a crash: %w", err)
	}
	if ran {
		r.actions.WithLabelValues("reindexed").Add(float64(st.Added + st.Removed))
		r.log.Warn("catalog indexes repaired after a crash", "records", st.Records, "added", st.Added, "removed", st.Removed)
	}
	return nil
}

// FullCollect is the operator's full collection (`mediarepo catalog
// reindex`): it reads every record and lists the blob store, deletes blobs
// under MediaPrefix older than GCGrace that no record names and thumbnail
// sets whose hash no per-hash record references (purge.go), corrects the
// remote bytes count and repairs the catalog's derived indexes. Its cost
// grows with the catalog; no periodic pass runs it.
func (r *Reconciler) FullCollect(ctx context.Context) error {
	return r.collect(ctx, r.now())
}

// expire moves reservations past ExpiresAt to expired.
func (r *Reconciler) expire(ctx context.Context, now time.Time) error {
	return r.cat.ListByState(ctx, media.StateReserved, func(e catalog.Entry) error {
		if now.Before(e.Record.ExpiresAt) {
			return nil
		}
		c := media.Change{Transition: media.Expire, At: now, Actor: r.opts.Name, Reason: "reservation expired without an upload"}
		_, _, err := apply(ctx, r.cat, e.Record.Origin, e.Record.ID, c)
		switch {
		case err == nil:
			r.actions.WithLabelValues("expired").Inc()
			r.log.Info("reservation expired", "media", e.Record.MXC())
		case errors.Is(err, media.ErrInvalidTransition), errors.Is(err, media.ErrNotFound):
			// uploaded or gone meanwhile
		default:
			return fmt.Errorf("expiring %s: %w", e.Record.MXC(), err)
		}
		return nil
	})
}

// pendingSince is when a record last entered pending.
func pendingSince(rec media.Record) time.Time {
	if n := len(rec.History); n > 0 {
		return rec.History[n-1].At
	}
	return rec.UploadedAt
}

// requeue publishes the jobs of records stuck in pending.
func (r *Reconciler) requeue(ctx context.Context, now time.Time) error {
	seen := map[string]bool{}
	err := r.cat.ListByState(ctx, media.StatePending, func(e catalog.Entry) error {
		key := e.Record.MXC()
		seen[key] = true
		if now.Sub(pendingSince(e.Record)) < r.opts.StuckAfter || now.Sub(r.enqueued[key]) < r.opts.StuckAfter {
			return nil
		}
		if err := r.jobs.Enqueue(ctx, e.Record, e.Revision); err != nil {
			return fmt.Errorf("re-enqueueing %s: %w", key, err)
		}
		r.enqueued[key] = now
		r.actions.WithLabelValues("requeued").Inc()
		r.log.Warn("media stuck in pending: scan job published again", "media", key, "revision", e.Revision,
			"pending_since", pendingSince(e.Record))
		return nil
	})
	for k := range r.enqueued {
		if !seen[k] {
			delete(r.enqueued, k)
		}
	}
	return err
}

// collect deletes blobs under MediaPrefix older than GCGrace that no
// record names, then repairs the catalog's indexes (FullCollect).
func (r *Reconciler) collect(ctx context.Context, now time.Time) error {
	referenced := map[string]bool{}
	before, err := r.cat.RemoteBytes(ctx)
	if err != nil {
		return fmt.Errorf("reading the remote bytes count: %w", err)
	}
	var remote int64
	err = r.cat.Walk(ctx, func(e catalog.Entry) error {
		if e.Record.BlobKey != "" {
			referenced[e.Record.BlobKey] = true
		}
		if holdsRemoteBytes(e.Record) {
			remote += e.Record.Size
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("collecting blobs: walking records: %w", err)
	}
	if err := r.correctRemoteBytes(ctx, before, remote); err != nil {
		return err
	}
	// Blobs of uploads in flight (and crashed ones, whose per-hash record
	// may name them) are settled by their intents (intents.go).
	err = r.cat.ListIntents(ctx, time.Time{}, func(in catalog.Intent) error {
		referenced[in.BlobKey] = true
		return nil
	})
	if err != nil {
		return fmt.Errorf("collecting blobs: listing intents: %w", err)
	}
	var orphans []string
	err = r.blobs.List(ctx, r.opts.MediaPrefix, func(info storage.Info) error {
		if !referenced[info.Key] && now.Sub(info.ModTime) >= r.opts.GCGrace {
			orphans = append(orphans, info.Key)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("collecting blobs: listing %s: %w", r.opts.MediaPrefix, err)
	}
	for _, key := range orphans {
		if err := r.blobs.Delete(ctx, key); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("collecting blob %s: %w", key, err)
		}
		r.actions.WithLabelValues("collected").Inc()
		r.log.Info("blob without a record collected", "blob", key)
	}
	if err := r.collectThumbnails(ctx, now); err != nil {
		return err
	}
	if ri, ok := r.cat.(reindexer); ok {
		st, err := ri.Reindex(ctx)
		if err != nil {
			return fmt.Errorf("repairing indexes: %w", err)
		}
		r.actions.WithLabelValues("reindexed").Add(float64(st.Added + st.Removed))
	}
	return nil
}
