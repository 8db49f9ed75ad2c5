package kv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
)

// Clean records by upload time: every clean record with an upload time has
// an index entry "clean.<hour>.<unix nanoseconds>.<origin>.<id>", where
// <hour> is the upload's UTC hour (YYYYMMDDHH). It is a derived entry like
// the others (index.go): written before the record turns clean, removed
// after it leaves clean, checked against the record on read, repaired by
// Reindex. A listing asks the server for the subjects of one hour at a
// time, from the cursor's hour on, and reads only the records of the page:
// its cost grows with the clean uploads since the cursor, never with the
// bucket.

// hourLayout formats the hour token of a clean entry.
const hourLayout = "2006010215"

// rescanStateKey is the rescan's state in the counters bucket.
const rescanStateKey = "rescan_state"

// cleanKey returns the clean entry of a clean record with an upload time.
func cleanKey(r media.Record) string {
	at := r.UploadedAt.UTC()
	return idxClean + "." + at.Format(hourLayout) + "." + strconv.FormatInt(at.UnixNano(), 10) + "." + escapeToken(r.Origin) + "." + r.ID
}

// parseCleanKey returns the position a clean entry names.
func parseCleanKey(key string) (catalog.UploadPosition, bool) {
	parts := strings.Split(key, ".")
	if len(parts) != 5 || parts[0] != idxClean {
		return catalog.UploadPosition{}, false
	}
	ns, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return catalog.UploadPosition{}, false
	}
	origin, err := unescapeToken(parts[3])
	if err != nil {
		return catalog.UploadPosition{}, false
	}
	return catalog.UploadPosition{UploadedAt: time.Unix(0, ns).UTC(), Origin: origin, ID: parts[4]}, true
}

// ListCleanByUpload implements catalog.Rescans.
func (c *Catalog) ListCleanByUpload(ctx context.Context, q catalog.CleanQuery) ([]catalog.Entry, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	from := q.Since
	if q.After != nil && q.After.UploadedAt.After(from) {
		from = q.After.UploadedAt
	}
	end := time.Now().Add(time.Hour).UTC()
	var out []catalog.Entry
	for h := from.UTC().Truncate(time.Hour); !h.After(end) && len(out) < q.Limit; h = h.Add(time.Hour) {
		keys, err := c.indexKeysWith(ctx, idxClean+"."+h.Format(hourLayout)+".>")
		if err != nil {
			return nil, err
		}
		type candidate struct {
			key string
			pos catalog.UploadPosition
		}
		var cands []candidate
		for _, k := range keys {
			pos, ok := parseCleanKey(k)
			if !ok || pos.UploadedAt.Before(q.Since) || q.After != nil && !q.After.Before(pos) {
				continue
			}
			cands = append(cands, candidate{k, pos})
		}
		slices.SortFunc(cands, func(a, b candidate) int {
			switch {
			case a.pos.Before(b.pos):
				return -1
			case b.pos.Before(a.pos):
				return 1
			}
			return 0
		})
		// Read only as many records as the page still needs; entries that
		// disagree with their record (pruned by resolve) leave room for
		// the next ones.
		for len(cands) > 0 && len(out) < q.Limit {
			n := min(len(cands), q.Limit-len(out))
			batch := make([]string, n)
			for i := range n {
				batch[i] = cands[i].key
			}
			cands = cands[n:]
			err := c.resolve(ctx, batch, func(e catalog.Entry) error {
				if q.Match(e.Record) {
					out = append(out, e)
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// GetRescanState implements catalog.Rescans.
func (c *Catalog) GetRescanState(ctx context.Context) (catalog.RescanState, uint64, error) {
	e, err := c.counters.Get(ctx, rescanStateKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return catalog.RescanState{}, 0, fmt.Errorf("%w: no rescan state", media.ErrNotFound)
	}
	if err != nil {
		return catalog.RescanState{}, 0, c.failed("rescan_state", fmt.Errorf("catalog: rescan state: %w", err))
	}
	var st catalog.RescanState
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		return catalog.RescanState{}, 0, fmt.Errorf("catalog: rescan state at revision %d: %w", e.Revision(), err)
	}
	return st, e.Revision(), nil
}

// PutRescanState implements catalog.Rescans.
func (c *Catalog) PutRescanState(ctx context.Context, st catalog.RescanState, rev uint64) (uint64, error) {
	data, err := json.Marshal(st)
	if err != nil {
		return 0, fmt.Errorf("catalog: rescan state: %w", err)
	}
	var next uint64
	if rev == 0 {
		next, err = c.counters.Create(ctx, rescanStateKey, data)
	} else {
		next, err = c.counters.Update(ctx, rescanStateKey, data, rev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		c.metrics.conflicts.WithLabelValues("rescan_state").Inc()
		return 0, fmt.Errorf("%w: the rescan state changed since revision %d", media.ErrConflict, rev)
	}
	if err != nil {
		return 0, c.failed("rescan_state", fmt.Errorf("catalog: rescan state: %w", err))
	}
	return next, nil
}
