package kv

import (
	"context"
	"errors"
	"fmt"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
)

// RecordUpload implements catalog.Uploads. KV has no transactions: it
// completes the intent with the content's hash (so that a crash after the
// reference is taken is collected from the intent), takes the blob
// reference (create the blob record, or share under catalog.Share with
// compare-and-set retries) while a new record's index entries are
// written, then writes the record, and removes the intent last; a failed
// record (or index) write gives the reference back (catalog.ReleaseBlob). A crash in between leaves a reference counted
// and an intent to collect it, never a record naming a blob without a
// reference.
func (c *Catalog) RecordUpload(ctx context.Context, up catalog.Upload) (catalog.Stored, error) {
	rec := up.Record
	if err := catalog.CheckUpload(rec); err != nil {
		return catalog.Stored{}, err
	}
	own := rec.BlobKey
	if _, err := recordKey(rec.Origin, rec.ID); err != nil {
		return catalog.Stored{Unused: own}, err
	}
	// A new record's index entries do not depend on the blob key: they
	// are written while the reference is taken (a crash leaves dangling
	// entries, which listings skip and prune after IndexGrace), and the
	// record follows both.
	indexed := make(chan error, 1)
	if up.Revision == 0 {
		go func() { indexed <- c.putIndexes(ctx, indexKeys(rec), 0) }()
	} else {
		indexed <- nil
	}
	key, err := c.reference(ctx, up)
	ierr := <-indexed
	if err != nil {
		return catalog.Stored{Unused: own}, err
	}
	rec.BlobKey = key
	var newRev uint64
	switch {
	case ierr != nil:
		err = ierr // the reference is given back below
	case up.Revision == 0:
		var rkey string
		var data []byte
		if rkey, data, err = encodeRecord(rec); err == nil {
			newRev, err = c.createIndexed(ctx, rec, rkey, data)
		}
	default:
		newRev, err = c.Update(ctx, rec, up.Revision)
	}
	if err != nil {
		unused, rerr := catalog.ReleaseBlob(context.WithoutCancel(ctx), c, rec.SHA256, key, up.At)
		if rerr != nil {
			c.log.WarnContext(ctx, "catalog: giving back a blob reference failed; the intent's collection corrects it", "sha256", rec.SHA256, "error", rerr)
		}
		if key != own {
			// Ours was never shared; a shared blob whose last reference
			// just went is collected with its blob record's intent-free
			// orphan (rare: it had references when we shared it).
			unused = own
		}
		return catalog.Stored{Unused: unused}, err
	}
	if up.Intent != "" {
		if err := c.DeleteIntent(ctx, up.Intent); err != nil {
			c.log.WarnContext(ctx, "catalog: removing an upload intent failed; the collector will", "blob", up.Intent, "error", err)
		}
	}
	st := catalog.Stored{Record: rec, Revision: newRev}
	if key != own {
		st.Unused = own
	}
	return st, nil
}

// reference completes the upload's intent with the content's hash, then
// takes the blob reference (attach).
func (c *Catalog) reference(ctx context.Context, up catalog.Upload) (string, error) {
	if up.Intent != "" {
		rec := up.Record
		in := catalog.Intent{BlobKey: up.Intent, Origin: rec.Origin, ID: rec.ID, SHA256: rec.SHA256, CreatedAt: up.At}
		if err := c.PutIntent(ctx, in); err != nil {
			return "", err
		}
	}
	return c.attach(ctx, up)
}

// attach takes a reference on the blob record of the upload's content and
// returns the blob key its record must use.
func (c *Catalog) attach(ctx context.Context, up catalog.Upload) (string, error) {
	rec := up.Record
	for attempt := range c.opts.ModifyAttempts {
		// Most uploads are new content: try the create first (one write
		// instead of a read and a write).
		_, err := c.CreateBlob(ctx, media.NewBlob(rec.SHA256, rec.BlobKey, rec.Size, up.At))
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
		d, err := catalog.Share(ctx, b, rec.BlobKey, up.At, up.BlobStored)
		if err != nil {
			return "", err
		}
		if !d.Write {
			return d.Key, nil
		}
		if _, err = c.UpdateBlob(ctx, d.Next, brev); errors.Is(err, media.ErrConflict) {
			if err := catalog.Backoff(ctx, attempt); err != nil {
				return "", err
			}
			continue
		}
		return d.Key, err
	}
	return "", fmt.Errorf("%w: blob record %s kept changing", media.ErrConflict, rec.SHA256)
}
