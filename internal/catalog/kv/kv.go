// Package kv is the catalog (internal/catalog) on NATS JetStream key-value
// buckets: the embedded default and small servers (design §5a).
//
// KV has no multi-key transactions: the record is the truth; the hash,
// uploader and state indexes are derived entries written before the record
// (so a crash leaves at most a dangling entry, never a missing one),
// checked against the record on every read, and repaired by Reindex.
//
// # Durability
//
// Buckets use file storage and Options.Replicas replicas (1 for the
// embedded server, 3 in a cluster: R3 survives the loss of one server).
// Replication alone is not enough: Jepsen's analysis of NATS 2.12 found
// acknowledged writes lost after crashes because the server fsyncs only
// every 2 minutes by default (`sync_interval`). Run the embedded server and
// every cluster node with `jetstream { sync_interval: always }` (measured
// here: sync publishes drop from 4-5k/s to 0.7-1k/s on one node) or, as a
// documented trade-off, a short interval such as 1s; a catalog write that
// was acknowledged and then lost would resurrect media as pending or lose a
// quarantine decision.
package kv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
)

// Options configure the JetStream catalog. Zero values take the defaults
// named on each field.
type Options struct {
	// MediaBucket holds media records ("mediarepo_media").
	MediaBucket string
	// IndexBucket holds the derived lookup entries ("mediarepo_index").
	IndexBucket string
	// BlobBucket holds per-hash blob records ("mediarepo_blobs").
	BlobBucket string
	// KeyVerdictBucket holds per-key verdicts of encrypted media
	// ("mediarepo_keyverdicts"); entries expire after KeyVerdictTTL (24h),
	// so a key is scanned again with newer signatures.
	KeyVerdictBucket string
	KeyVerdictTTL    time.Duration
	// LeaseBucket holds leader leases ("mediarepo_leases").
	LeaseBucket string
	// CounterBucket holds deployment-wide counters such as the bytes of
	// cached remote media ("mediarepo_counters").
	CounterBucket string
	// IntentBucket holds upload intents ("mediarepo_intents", intents.go).
	IntentBucket string
	// ReservationBucket holds the reservation slots per uploader
	// ("mediarepo_reservations", reserve.go).
	ReservationBucket string
	// RemoteBucket holds the remote retention index ("mediarepo_remote",
	// retention.go).
	RemoteBucket string
	// CrashAfter is how long the open marker of a process may go without
	// being rewritten before the process counts as crashed (5m; crash.go).
	CrashAfter time.Duration
	// Replicas per bucket (1; use 3 in a cluster). See the package doc on
	// sync_interval.
	Replicas int
	// History is the number of revisions the media bucket keeps per key
	// (1: the record carries its own history of events).
	History uint8
	// ModifyAttempts bounds Modify's read → change → CAS retries (32).
	ModifyAttempts int
	// RecheckInterval makes waiting downloads re-read their record even
	// without a watch event, as insurance against a missed update (10s).
	RecheckInterval time.Duration
	// IndexGrace is how old an index entry whose record does not exist
	// must be before it is removed: uploads write entries first (1m).
	IndexGrace time.Duration
}

func (o *Options) defaults() {
	if o.MediaBucket == "" {
		o.MediaBucket = "mediarepo_media"
	}
	if o.IndexBucket == "" {
		o.IndexBucket = "mediarepo_index"
	}
	if o.BlobBucket == "" {
		o.BlobBucket = "mediarepo_blobs"
	}
	if o.KeyVerdictBucket == "" {
		o.KeyVerdictBucket = "mediarepo_keyverdicts"
	}
	if o.KeyVerdictTTL == 0 {
		o.KeyVerdictTTL = 24 * time.Hour
	}
	if o.LeaseBucket == "" {
		o.LeaseBucket = "mediarepo_leases"
	}
	if o.CounterBucket == "" {
		o.CounterBucket = "mediarepo_counters"
	}
	if o.IntentBucket == "" {
		o.IntentBucket = "mediarepo_intents"
	}
	if o.ReservationBucket == "" {
		o.ReservationBucket = "mediarepo_reservations"
	}
	if o.RemoteBucket == "" {
		o.RemoteBucket = "mediarepo_remote"
	}
	if o.CrashAfter == 0 {
		o.CrashAfter = 5 * time.Minute
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.History == 0 {
		o.History = 1
	}
	if o.ModifyAttempts == 0 {
		o.ModifyAttempts = 32
	}
	if o.RecheckInterval == 0 {
		o.RecheckInterval = 10 * time.Second
	}
	if o.IndexGrace == 0 {
		o.IndexGrace = time.Minute
	}
}

// Catalog is the catalog on JetStream key-value buckets. It is safe for
// concurrent use; Close stops its shared watch.
type Catalog struct {
	opts    Options
	log     *slog.Logger
	records jetstream.KeyValue
	index   jetstream.KeyValue
	blobs   jetstream.KeyValue
	leases  jetstream.KeyValue
	// counters holds shared counters (counter.go).
	counters jetstream.KeyValue
	// keyVerdicts holds per-key verdicts of encrypted media (keyverdict.go).
	keyVerdicts jetstream.KeyValue
	// intents, reservations and remote serve maintenance that never reads
	// everything (intents.go, reserve.go, retention.go).
	intents      jetstream.KeyValue
	reservations jetstream.KeyValue
	remote       jetstream.KeyValue
	// indexStream is the index bucket's stream, for listing its subjects.
	indexStream jetstream.Stream
	// marker is this process's open marker; stopMarker removes it (crash.go).
	marker     string
	stopMarker func()
	js         jetstream.JetStream
	metrics    metrics
	hub        *hub
}

var _ catalog.Catalog = (*Catalog)(nil)

type metrics struct {
	errors     *prometheus.CounterVec
	conflicts  *prometheus.CounterVec
	staleIndex prometheus.Counter
	waiters    prometheus.Gauge
	watches    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (metrics, error) {
	stale := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "mediarepo_catalog_stale_index_entries_total",
		Help: "Index entries found contradicting their record on read.",
	})
	shared, err := catalog.NewMetrics(reg, "Starts (and restarts) of the process-wide record watch.", stale)
	return metrics{errors: shared.Errors, conflicts: shared.Conflicts, staleIndex: stale, waiters: shared.Waiters, watches: shared.WatchStarts}, err
}

// New creates (or updates the configuration of) the buckets and returns
// the catalog. reg may be nil (no metrics registered).
func New(ctx context.Context, js jetstream.JetStream, opts Options, log *slog.Logger, reg prometheus.Registerer) (*Catalog, error) {
	opts.defaults()
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	c := &Catalog{opts: opts, log: log, js: js, metrics: m}
	buckets := []struct {
		dst *jetstream.KeyValue
		cfg jetstream.KeyValueConfig
	}{
		{&c.records, jetstream.KeyValueConfig{Bucket: opts.MediaBucket, Description: "mediarepo media records", History: opts.History}},
		{&c.index, jetstream.KeyValueConfig{Bucket: opts.IndexBucket, Description: "mediarepo derived lookups (hash, uploader, state)", LimitMarkerTTL: indexMarkerTTL}},
		{&c.blobs, jetstream.KeyValueConfig{Bucket: opts.BlobBucket, Description: "mediarepo per-hash blob records"}},
		{&c.leases, jetstream.KeyValueConfig{Bucket: opts.LeaseBucket, Description: "mediarepo leader leases", LimitMarkerTTL: time.Second}},
		{&c.counters, jetstream.KeyValueConfig{Bucket: opts.CounterBucket, Description: "mediarepo shared counters (remote media bytes)"}},
		{&c.keyVerdicts, jetstream.KeyValueConfig{Bucket: opts.KeyVerdictBucket, Description: "mediarepo per-key verdicts of encrypted media (key digests only)", TTL: opts.KeyVerdictTTL}},
		{&c.intents, jetstream.KeyValueConfig{Bucket: opts.IntentBucket, Description: "mediarepo upload intents (uploads in flight)", LimitMarkerTTL: indexMarkerTTL}},
		{&c.reservations, jetstream.KeyValueConfig{Bucket: opts.ReservationBucket, Description: "mediarepo reservation slots per uploader", LimitMarkerTTL: indexMarkerTTL}},
		{&c.remote, jetstream.KeyValueConfig{Bucket: opts.RemoteBucket, Description: "mediarepo cached remote media by fetch time", LimitMarkerTTL: indexMarkerTTL}},
	}
	for _, b := range buckets {
		b.cfg.Storage = jetstream.FileStorage
		b.cfg.Replicas = opts.Replicas
		kv, err := js.CreateOrUpdateKeyValue(ctx, b.cfg)
		if err != nil {
			return nil, fmt.Errorf("catalog: bucket %s: %w", b.cfg.Bucket, err)
		}
		*b.dst = kv
	}
	if c.indexStream, err = js.Stream(ctx, "KV_"+opts.IndexBucket); err != nil {
		return nil, fmt.Errorf("catalog: index stream: %w", err)
	}
	if err := c.startMarker(ctx); err != nil {
		return nil, err
	}
	c.hub = newHub(c)
	return c, nil
}

// Close stops the shared watch; waiting calls return their ctx error or
// keep polling. The JetStream connection is the caller's to close.
func (c *Catalog) Close() error {
	c.hub.close()
	if c.stopMarker != nil {
		c.stopMarker()
		c.stopMarker = nil
	}
	return nil
}

// Create implements Records.
func (c *Catalog) Create(ctx context.Context, rec media.Record) (uint64, error) {
	key, data, err := encodeRecord(rec)
	if err != nil {
		return 0, err
	}
	if err := c.putIndexes(ctx, indexKeys(rec), 0); err != nil {
		return 0, err
	}
	return c.createIndexed(ctx, rec, key, data)
}

// createIndexed creates rec (encoded as key and data) whose index entries
// are written.
func (c *Catalog) createIndexed(ctx context.Context, rec media.Record, key string, data []byte) (uint64, error) {
	if err := c.putRemote(ctx, key, rec); err != nil {
		return 0, err
	}
	rev, err := c.records.Create(ctx, key, data)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return 0, fmt.Errorf("%w: %s", media.ErrExists, rec.MXC())
	}
	if err != nil {
		return 0, c.failed("create", fmt.Errorf("catalog: create %s: %w", rec.MXC(), err))
	}
	return rev, nil
}

// Get implements Records.
func (c *Catalog) Get(ctx context.Context, origin, id string) (media.Record, uint64, error) {
	key, err := recordKey(origin, id)
	if err != nil {
		return media.Record{}, 0, err
	}
	return c.getKey(ctx, key)
}

func (c *Catalog) getKey(ctx context.Context, key string) (media.Record, uint64, error) {
	e, err := c.records.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return media.Record{}, 0, fmt.Errorf("%w: record %s", media.ErrNotFound, key)
	}
	if err != nil {
		return media.Record{}, 0, c.failed("get", fmt.Errorf("catalog: get %s: %w", key, err))
	}
	var rec media.Record
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return media.Record{}, 0, fmt.Errorf("catalog: decode %s at revision %d: %w", key, e.Revision(), err)
	}
	return rec, e.Revision(), nil
}

// Update implements Records. It reads the current record first (to keep
// the state index exact); Modify avoids that extra read.
func (c *Catalog) Update(ctx context.Context, rec media.Record, rev uint64) (uint64, error) {
	old, cur, err := c.Get(ctx, rec.Origin, rec.ID)
	if err != nil {
		return 0, err
	}
	if cur != rev {
		c.metrics.conflicts.WithLabelValues("record").Inc()
		return 0, fmt.Errorf("%w: %s is at revision %d, not %d", media.ErrConflict, rec.MXC(), cur, rev)
	}
	return c.update(ctx, old, rec, rev)
}

// update writes rec over old (read at rev): new index entries first, then
// the record by CAS, then the removal of entries old had and rec has not.
func (c *Catalog) update(ctx context.Context, old, rec media.Record, rev uint64) (uint64, error) {
	key, data, err := encodeRecord(rec)
	if err != nil {
		return 0, err
	}
	if rec.Origin != old.Origin || rec.ID != old.ID {
		return 0, fmt.Errorf("%w: a record's origin and ID cannot change", media.ErrInvalidID)
	}
	oldKeys, newKeys := indexKeys(old), indexKeys(rec)
	if err := c.putIndexes(ctx, missing(newKeys, oldKeys), rev); err != nil {
		return 0, err
	}
	if rec.Remote && (!old.Remote || !fetchTime(rec).Equal(fetchTime(old))) {
		if err := c.putRemote(ctx, key, rec); err != nil {
			return 0, err
		}
	}
	newRev, err := c.records.Update(ctx, key, data, rev)
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
		c.metrics.conflicts.WithLabelValues("record").Inc()
		return 0, fmt.Errorf("%w: %s changed since revision %d", media.ErrConflict, rec.MXC(), rev)
	}
	if err != nil {
		return 0, c.failed("update", fmt.Errorf("catalog: update %s: %w", rec.MXC(), err))
	}
	for _, k := range missing(oldKeys, newKeys) {
		// Best effort: a leftover entry is ignored on read and pruned later.
		if _, err := c.pruneEntry(ctx, k, rec, newRev, true); err != nil {
			c.log.DebugContext(ctx, "catalog: prune index entry", "key", k, "error", err)
		}
	}
	return newRev, nil
}

// Delete implements Records: a compare-and-set purge of the record (the
// server checks rev), then a best-effort prune of its index entries under
// the index rules (index.go): an entry is removed only when older than
// IndexGrace and not rewritten meanwhile, so the entries of a record
// created again under the same key at once are kept.
func (c *Catalog) Delete(ctx context.Context, origin, id string, rev uint64) error {
	old, cur, err := c.Get(ctx, origin, id)
	if err != nil {
		return err
	}
	key, _, err := encodeRecord(old)
	if err != nil {
		return err
	}
	if cur != rev {
		c.metrics.conflicts.WithLabelValues("record").Inc()
		return fmt.Errorf("%w: %s is at revision %d, not %d", media.ErrConflict, old.MXC(), cur, rev)
	}
	err = c.records.Purge(ctx, key, jetstream.LastRevision(rev))
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		c.metrics.conflicts.WithLabelValues("record").Inc()
		return fmt.Errorf("%w: %s changed since revision %d", media.ErrConflict, old.MXC(), rev)
	}
	if err != nil {
		return c.failed("delete", fmt.Errorf("catalog: delete %s: %w", old.MXC(), err))
	}
	for _, k := range indexKeys(old) {
		if _, err := c.pruneEntry(ctx, k, media.Record{}, 0, false); err != nil {
			c.log.DebugContext(ctx, "catalog: prune index entry", "key", k, "error", err)
		}
	}
	if old.Remote {
		// Best effort: ListRemoteBefore drops an entry without a record.
		if err := c.dropRemote(ctx, key, 0); err != nil {
			c.log.DebugContext(ctx, "catalog: drop remote retention entry", "key", key, "error", err)
		}
	}
	return nil
}

// Modify implements Records.
func (c *Catalog) Modify(ctx context.Context, origin, id string, fn func(*media.Record) error) (media.Record, uint64, error) {
	return catalog.RetryConflicts(ctx, c.opts.ModifyAttempts, "record", func() (media.Record, uint64, error) {
		old, rev, err := c.Get(ctx, origin, id)
		if err != nil {
			return media.Record{}, 0, err
		}
		rec := old
		rec.History = append([]media.Event(nil), old.History...)
		if err := fn(&rec); err != nil {
			return media.Record{}, 0, err
		}
		newRev, err := c.update(ctx, old, rec, rev)
		return rec, newRev, err
	})
}

func encodeRecord(rec media.Record) (key string, data []byte, err error) {
	key, err = recordKey(rec.Origin, rec.ID)
	if err != nil {
		return "", nil, err
	}
	if !rec.State.Valid() {
		return "", nil, fmt.Errorf("%w: unknown state %q", media.ErrInvalidTransition, rec.State)
	}
	data, err = json.Marshal(rec)
	if err != nil {
		return "", nil, fmt.Errorf("catalog: encode %s: %w", rec.MXC(), err)
	}
	return key, data, nil
}

// missing returns the keys of a that are not in b.
func missing(a, b []string) []string {
	var out []string
	for _, k := range a {
		found := false
		for _, l := range b {
			found = found || k == l
		}
		if !found {
			out = append(out, k)
		}
	}
	return out
}

// failed counts an operation's failure in the errors metric and returns
// err; expected outcomes (not found, exists, conflict) are not failures.
func (c *Catalog) failed(op string, err error) error {
	if !errors.Is(err, media.ErrNotFound) && !errors.Is(err, media.ErrExists) && !errors.Is(err, media.ErrConflict) {
		c.metrics.errors.WithLabelValues(op).Inc()
	}
	return err
}
