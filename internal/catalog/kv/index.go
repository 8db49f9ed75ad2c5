package kv

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
)

// Index entries live in their own bucket under "<kind>.<value>.<origin>.<id>".
// An entry's value is the record revision its writer read before writing
// (0 for a new record). That makes removal safe without transactions: an
// entry that disagrees with its record is removed only when the record's
// revision is newer than the entry's base revision (so the write the entry
// was made for has either lost or been superseded), with a compare-and-set
// on the entry's own revision (so an entry rewritten meanwhile stays).
// Entries whose record does not exist are removed after Options.IndexGrace.

// indexMarkerTTL is how long the marker of a removed index entry stays.
const indexMarkerTTL = time.Minute

// putIndexes writes the entries (concurrently) with the base revision.
func (c *Catalog) putIndexes(ctx context.Context, keys []string, base uint64) error {
	if len(keys) == 0 {
		return nil
	}
	value := []byte(strconv.FormatUint(base, 10))
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Go(func() {
			if _, err := c.index.Put(ctx, k, value); err != nil {
				errs[i] = fmt.Errorf("catalog: index %s: %w", k, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// pruneEntry removes the index entry key when the record (read at recRev
// BEFORE this call, exists false when it was not found) contradicts it.
func (c *Catalog) pruneEntry(ctx context.Context, key string, rec media.Record, recRev uint64, exists bool) (bool, error) {
	if exists && indexMatches(key, rec) {
		return false, nil
	}
	e, err := c.index.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	base, err := strconv.ParseUint(string(e.Value()), 10, 64)
	if err != nil {
		base = 0 // an unreadable entry is as good as a dangling one
	}
	if exists && recRev <= base || !exists && time.Since(e.Created()) < c.opts.IndexGrace {
		return false, nil
	}
	err = c.index.Purge(ctx, key, jetstream.LastRevision(e.Revision()), jetstream.PurgeTTL(indexMarkerTTL))
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return false, nil // rewritten meanwhile: it belongs to a newer write
	}
	if err != nil {
		return false, err
	}
	return true, nil
}

// indexKeysWith returns the keys of every live entry matching filter.
// It asks the server for the stream's subjects matching the filter, which
// it answers from its in-memory subject index: the cost grows with the
// matches, not with the bucket. (A filtered watch, the obvious way, makes
// the server read every message block that holds a match; at 1 M records
// the officers' list of 1,000 quarantined media took 2-5 s that way.)
// Entries removed within the last minute may still be listed (their
// marker has not expired): resolve checks every key against its record.
func (c *Catalog) indexKeysWith(ctx context.Context, filter string) ([]string, error) {
	prefix := "$KV." + c.opts.IndexBucket + "."
	info, err := c.indexStream.Info(ctx, jetstream.WithSubjectFilter(prefix+filter))
	if err != nil {
		return nil, fmt.Errorf("catalog: list %s in %s: %w", filter, c.opts.IndexBucket, err)
	}
	keys := make([]string, 0, len(info.State.Subjects))
	for s := range info.State.Subjects {
		keys = append(keys, strings.TrimPrefix(s, prefix))
	}
	return keys, nil
}

func listKeys(ctx context.Context, kv jetstream.KeyValue, filter string) ([]string, error) {
	w, err := kv.WatchFiltered(ctx, []string{filter}, jetstream.IgnoreDeletes(), jetstream.MetaOnly())
	if err != nil {
		return nil, fmt.Errorf("catalog: list %s in %s: %w", filter, kv.Bucket(), err)
	}
	defer func() { _ = w.Stop() }()
	var keys []string
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("catalog: list %s in %s: watch closed early", filter, kv.Bucket())
			}
			if e == nil {
				return keys, nil
			}
			keys = append(keys, e.Key())
		}
	}
}

// resolve reads the record of every index key and calls fn for those that
// agree with their entry, pruning the others. Records are read
// resolveReaders at a time, in chunks of resolveChunk keys (a random read
// costs a message block load on the server, so reading them one after
// the other leaves the server idle between requests); fn is called from
// this goroutine only.
func (c *Catalog) resolve(ctx context.Context, keys []string, fn func(catalog.Entry) error) error {
	seen := make(map[string]bool, len(keys))
	uniq := keys[:0:0]
	for _, k := range keys {
		if !seen[k] { // a lister may report a key twice
			seen[k] = true
			uniq = append(uniq, k)
		}
	}
	type read struct {
		rec    media.Record
		rev    uint64
		exists bool
		skip   bool
		err    error
	}
	for len(uniq) > 0 {
		chunk := uniq[:min(len(uniq), resolveChunk)]
		uniq = uniq[len(chunk):]
		reads := make([]read, len(chunk))
		next := make(chan int)
		var wg sync.WaitGroup
		for range min(resolveReaders, len(chunk)) {
			wg.Go(func() {
				for i := range next {
					origin, id, err := parseRecordSuffix(chunk[i])
					if err != nil {
						c.log.WarnContext(ctx, "catalog: unparsable index key", "key", chunk[i], "error", err)
						reads[i].skip = true
						continue
					}
					r := &reads[i]
					r.rec, r.rev, r.err = c.Get(ctx, origin, id)
					r.exists = r.err == nil
					if errors.Is(r.err, media.ErrNotFound) {
						r.err = nil
					}
				}
			})
		}
		for i := range chunk {
			next <- i
		}
		close(next)
		wg.Wait()
		for i, k := range chunk {
			r := reads[i]
			switch {
			case r.skip:
				continue
			case r.err != nil:
				return r.err
			case r.exists && indexMatches(k, r.rec):
				if err := fn(catalog.Entry{Record: r.rec, Revision: r.rev}); err != nil {
					return err
				}
				continue
			}
			c.metrics.staleIndex.Inc()
			if _, err := c.pruneEntry(ctx, k, r.rec, r.rev, r.exists); err != nil {
				c.log.DebugContext(ctx, "catalog: prune index entry", "key", k, "error", err)
			}
		}
	}
	return nil
}

// resolveReaders and resolveChunk bound resolve's concurrent reads and the
// records it holds at once.
const (
	resolveReaders = 8
	resolveChunk   = 512
)

func (c *Catalog) lookup(ctx context.Context, kind, value string) ([]catalog.Entry, error) {
	keys, err := c.indexKeysWith(ctx, indexPrefix(kind, value))
	if err != nil {
		return nil, err
	}
	var out []catalog.Entry
	err = c.resolve(ctx, keys, func(e catalog.Entry) error {
		out = append(out, e)
		return nil
	})
	return out, err
}

// ByHash implements Lookups.
func (c *Catalog) ByHash(ctx context.Context, sha256 string) ([]catalog.Entry, error) {
	if !media.ValidSHA256(sha256) {
		return nil, fmt.Errorf("%w: %q is not a lowercase hex SHA-256", media.ErrInvalidID, sha256)
	}
	return c.lookup(ctx, idxHash, sha256)
}

// ByUploader implements Lookups: the index keys first (memory grows with
// the user's keys, not with their records), then each record in turn.
func (c *Catalog) ByUploader(ctx context.Context, userID string, fn func(catalog.Entry) error) error {
	if err := media.ValidateUserID(userID); err != nil {
		return err
	}
	keys, err := c.indexKeysWith(ctx, indexPrefix(idxUser, userID))
	if err != nil {
		return err
	}
	return c.resolve(ctx, keys, fn)
}

// ListByState implements Lookups.
func (c *Catalog) ListByState(ctx context.Context, state media.State, fn func(catalog.Entry) error) error {
	if !state.Valid() {
		return fmt.Errorf("%w: unknown state %q", media.ErrInvalidTransition, state)
	}
	if !indexedStates[state] {
		return c.Walk(ctx, func(e catalog.Entry) error {
			if e.Record.State != state {
				return nil
			}
			return fn(e)
		})
	}
	keys, err := c.indexKeysWith(ctx, indexPrefix(idxState, string(state)))
	if err != nil {
		return err
	}
	return c.resolve(ctx, keys, fn)
}

// Walk implements Lookups. It lists the keys first, then reads each record
// (memory grows with the number of keys, not of records' sizes).
func (c *Catalog) Walk(ctx context.Context, fn func(catalog.Entry) error) error {
	keys, err := listKeys(ctx, c.records, ">")
	if err != nil {
		return err
	}
	for _, k := range keys {
		rec, rev, err := c.getKey(ctx, k)
		if errors.Is(err, media.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if err := fn(catalog.Entry{Record: rec, Revision: rev}); err != nil {
			return err
		}
	}
	return nil
}

// Reindex repairs the derived indexes after a crash: it writes every
// missing entry for every record, then removes entries their record
// contradicts (under the rules above). Run it from the reconciler, under
// its lease; it reads every record.
func (c *Catalog) Reindex(ctx context.Context) (catalog.ReindexStats, error) {
	var st catalog.ReindexStats
	err := c.Walk(ctx, func(e catalog.Entry) error {
		st.Records++
		for _, k := range indexKeys(e.Record) {
			_, err := c.index.Create(ctx, k, []byte(strconv.FormatUint(e.Revision, 10)))
			if errors.Is(err, jetstream.ErrKeyExists) {
				continue
			}
			if err != nil {
				return fmt.Errorf("catalog: reindex %s: %w", k, err)
			}
			st.Added++
		}
		if e.Record.Remote && !e.Record.State.Final() {
			key, err := recordKey(e.Record.Origin, e.Record.ID)
			if err != nil {
				return err
			}
			_, err = c.remote.Create(ctx, key, []byte(fetchTime(e.Record).UTC().Format(time.RFC3339Nano)))
			switch {
			case err == nil:
				st.Added++
			case !errors.Is(err, jetstream.ErrKeyExists):
				return fmt.Errorf("catalog: reindex remote %s: %w", key, err)
			}
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	keys, err := c.indexKeysWith(ctx, ">")
	if err != nil {
		return st, err
	}
	for _, k := range keys {
		origin, id, err := parseRecordSuffix(k)
		if err != nil {
			continue
		}
		rec, rev, err := c.Get(ctx, origin, id)
		if err != nil && !errors.Is(err, media.ErrNotFound) {
			return st, err
		}
		removed, err := c.pruneEntry(ctx, k, rec, rev, err == nil)
		if err != nil {
			return st, fmt.Errorf("catalog: reindex prune %s: %w", k, err)
		}
		if removed {
			st.Removed++
		}
	}
	return st, nil
}
