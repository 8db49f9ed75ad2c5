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

// The remote retention index is a bucket with one key per cached remote
// record ("<origin>.<id>", as in the media bucket) whose value is the
// fetch time. Create writes it before the record (a crash leaves at most
// an entry without a record, which the listing drops), Delete removes it.
// A bucket is a stream in write order, so reading it from its first
// message meets the oldest fetches first: ListRemoteBefore reads until the
// first entry fetched after the cut-off and never further.

// fetchTime is when remote media was fetched (UploadedAt, else CreatedAt).
func fetchTime(rec media.Record) time.Time {
	if !rec.UploadedAt.IsZero() {
		return rec.UploadedAt
	}
	return rec.CreatedAt
}

// putRemote writes the retention entry of a cached remote record.
func (c *Catalog) putRemote(ctx context.Context, key string, rec media.Record) error {
	if !rec.Remote {
		return nil
	}
	if _, err := c.remote.Put(ctx, key, []byte(fetchTime(rec).UTC().Format(time.RFC3339Nano))); err != nil {
		return c.failed("put_remote", fmt.Errorf("catalog: remote retention entry %s: %w", key, err))
	}
	return nil
}

// dropRemote removes the retention entry of key at revision rev (0: any).
func (c *Catalog) dropRemote(ctx context.Context, key string, rev uint64) error {
	opts := []jetstream.KVDeleteOpt{jetstream.PurgeTTL(indexMarkerTTL)}
	if rev != 0 {
		opts = append(opts, jetstream.LastRevision(rev))
	}
	err := c.remote.Purge(ctx, key, opts...)
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil // rewritten by a new fetch meanwhile, or gone
	}
	return err
}

// ListRemoteBefore implements catalog.RemoteRetention.
func (c *Catalog) ListRemoteBefore(ctx context.Context, before time.Time, fn func(catalog.Entry) error) error {
	stream := "KV_" + c.opts.RemoteBucket
	st, err := c.js.Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("catalog: remote retention index: %w", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return fmt.Errorf("catalog: remote retention index: %w", err)
	}
	if info.State.Msgs == 0 {
		return nil
	}
	last := info.State.LastSeq
	cons, err := c.js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return fmt.Errorf("catalog: remote retention index: %w", err)
	}
	prefix := "$KV." + c.opts.RemoteBucket + "."
	type item struct {
		key string
		rev uint64
	}
	var due []item
	for reading := true; reading; {
		batch, err := cons.FetchNoWait(256)
		if err != nil {
			return fmt.Errorf("catalog: remote retention index: %w", err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil || !reading {
				continue
			}
			if md.Sequence.Stream >= last {
				reading = false
			}
			if op := m.Headers().Get("KV-Operation"); op != "" {
				continue // a removal marker
			}
			at, err := time.Parse(time.RFC3339Nano, string(m.Data()))
			if err == nil && !at.Before(before) {
				reading = false // everything after was fetched later
				continue
			}
			due = append(due, item{strings.TrimPrefix(m.Subject(), prefix), md.Sequence.Stream})
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return fmt.Errorf("catalog: remote retention index: %w", err)
		}
		if n == 0 {
			break
		}
	}
	for _, it := range due {
		origin, id, err := parseRecordSuffix(it.key)
		if err != nil {
			continue
		}
		rec, rev, err := c.Get(ctx, origin, id)
		switch {
		case errors.Is(err, media.ErrNotFound) || err == nil && (!rec.Remote || rec.State.Final()):
			// Gone, or kept for good as a tombstone: never due again.
			if err := c.dropRemote(ctx, it.key, it.rev); err != nil {
				c.log.DebugContext(ctx, "catalog: drop remote retention entry", "key", it.key, "error", err)
			}
			continue
		case err != nil:
			return err
		}
		if rec.State != media.StateClean || !fetchTime(rec).Before(before) {
			continue // waits for its verdict or an officer, or fetched again
		}
		if err := fn(catalog.Entry{Record: rec, Revision: rev}); err != nil {
			return err
		}
	}
	return nil
}
