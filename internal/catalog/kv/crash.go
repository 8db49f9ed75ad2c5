package kv

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
)

// Crash detection. KV has no multi-key transactions: a write touches the
// index entries and the record one after the other, and a crash of the
// writing process (or of a NATS server that had not yet written every
// stream to disk) can leave the derived indexes behind their records.
// Every open catalog therefore keeps a marker "open.<process>" in the
// lease bucket, rewritten every markerEvery and removed by Close. A marker
// not rewritten for Options.CrashAfter belongs to a process that ended without
// closing its catalog: RepairAfterCrash (run by the reconciler on every
// pass, under its lease) then rebuilds the indexes once with Reindex and
// removes the marker. Nothing else reads every record.

const (
	markerPrefix = "open."
	markerEvery  = time.Minute
)

// startMarker writes this process's marker and keeps it fresh until
// stopMarker.
func (c *Catalog) startMarker(ctx context.Context) error {
	c.marker = markerPrefix + media.NewMediaID()
	write := func(ctx context.Context) error {
		_, err := c.leases.Put(ctx, c.marker, []byte(time.Now().UTC().Format(time.RFC3339)))
		return err
	}
	if err := write(ctx); err != nil {
		return fmt.Errorf("catalog: open marker: %w", err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(markerEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				if err := write(wctx); err != nil {
					c.log.Warn("catalog: refreshing the open marker failed", "error", err)
				}
				cancel()
			}
		}
	}()
	c.stopMarker = func() {
		close(stop)
		<-done
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.leases.Purge(ctx, c.marker); err != nil {
			c.log.Warn("catalog: removing the open marker failed; the next start repairs the indexes once", "error", err)
		}
	}
	return nil
}

// RepairAfterCrash rebuilds the derived indexes when a process of the
// deployment ended without closing its catalog (see above) and reports
// whether it ran. The reconciler calls it on every pass; without a crash it
// costs one listing of the markers.
func (c *Catalog) RepairAfterCrash(ctx context.Context) (catalog.ReindexStats, bool, error) {
	keys, err := listKeys(ctx, c.leases, markerPrefix+">")
	if err != nil {
		return catalog.ReindexStats{}, false, err
	}
	var stale []jetstream.KeyValueEntry
	for _, k := range keys {
		if k == c.marker || !strings.HasPrefix(k, markerPrefix) {
			continue
		}
		e, err := c.leases.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			continue
		}
		if err != nil {
			return catalog.ReindexStats{}, false, err
		}
		if time.Since(e.Created()) > c.opts.CrashAfter {
			stale = append(stale, e)
		}
	}
	if len(stale) == 0 {
		return catalog.ReindexStats{}, false, nil
	}
	c.log.WarnContext(ctx, "catalog: a process ended without closing the catalog; repairing the indexes", "markers", len(stale))
	st, err := c.Reindex(ctx)
	if err != nil {
		return st, true, err
	}
	for _, e := range stale {
		// A marker rewritten meanwhile (the process was only slow) stays.
		if err := c.leases.Purge(ctx, e.Key(), jetstream.LastRevision(e.Revision())); err != nil && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return st, true, err
		}
	}
	return st, true, nil
}
