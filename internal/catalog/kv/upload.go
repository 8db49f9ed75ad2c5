package kv

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
)

// RecordUpload implements catalog.Uploads. KV has no transactions: it
// takes the blob reference first (create the blob record, or share under
// catalog.Share with compare-and-set retries), then writes the record; a
// failed record write gives the reference back (catalog.ReleaseBlob). A
// crash in between leaves a reference counted and the blob kept, never a
// record naming a blob without a reference.
func (c *Catalog) RecordUpload(ctx context.Context, rec media.Record, rev uint64, at time.Time) (catalog.Stored, error) {
	if err := catalog.CheckUpload(rec); err != nil {
		return catalog.Stored{}, err
	}
	own := rec.BlobKey
	key, err := c.attach(ctx, rec, at)
	if err != nil {
		return catalog.Stored{Unused: own}, err
	}
	rec.BlobKey = key
	var newRev uint64
	if rev == 0 {
		newRev, err = c.Create(ctx, rec)
	} else {
		newRev, err = c.Update(ctx, rec, rev)
	}
	if err != nil {
		unused, rerr := catalog.ReleaseBlob(context.WithoutCancel(ctx), c, rec.SHA256, key, at)
		if rerr != nil {
			c.log.WarnContext(ctx, "catalog: giving back a blob reference failed; the hourly collection corrects the count", "sha256", rec.SHA256, "error", rerr)
		}
		if key != own {
			unused = own // ours was never shared
		}
		return catalog.Stored{Unused: unused}, err
	}
	st := catalog.Stored{Record: rec, Revision: newRev}
	if key != own {
		st.Unused = own
	}
	return st, nil
}

// attach takes a reference on the blob record of rec's content and returns
// the blob key rec must use.
func (c *Catalog) attach(ctx context.Context, rec media.Record, at time.Time) (string, error) {
	for attempt := range c.opts.ModifyAttempts {
		// Most uploads are new content: try the create first (one write
		// instead of a read and a write).
		_, err := c.CreateBlob(ctx, media.NewBlob(rec.SHA256, rec.BlobKey, rec.Size, at))
		if !errors.Is(err, media.ErrExists) {
			return rec.BlobKey, err
		}
		b, brev, err := c.GetBlob(ctx, rec.SHA256)
		if errors.Is(err, media.ErrNotFound) {
			continue // deleted meanwhile: create again
		}
		if err != nil {
			return "", err
		}
		d, err := catalog.Share(b, at)
		if err != nil {
			return "", err
		}
		if !d.Shared {
			return rec.BlobKey, nil
		}
		if _, err = c.UpdateBlob(ctx, d.Next, brev); errors.Is(err, media.ErrConflict) {
			if err := backoff(ctx, attempt); err != nil {
				return "", err
			}
			continue
		}
		return b.BlobKey, err
	}
	return "", fmt.Errorf("%w: blob record %s kept changing", media.ErrConflict, rec.SHA256)
}
