package review

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
)

// Release makes quarantined or blocked media clean and servable, moving
// its blob out of quarantine. With liftHashBlock the SHA-256 is no longer
// refused at upload either (the hash-level verdict stays: new uploads of
// the same bytes are still scanned or get the old verdict). Releasing
// clean media changes nothing (but still lifts the block when asked and
// finishes an interrupted move).
func (r *Reviewer) Release(ctx context.Context, q Request, origin, id string, liftHashBlock bool) (Result, error) {
	target := media.MXC(origin, id)
	if err := q.validate(); err != nil {
		return Result{}, err
	}
	res, from, err := r.transition(ctx, q, origin, id, media.Release)
	var details []string
	if err == nil {
		err = r.moveOut(ctx, res.Record)
		if err == nil {
			res.Record, res.Revision, err = r.cat.Get(ctx, origin, id)
		}
	}
	if err == nil && liftHashBlock {
		var lifted bool
		lifted, err = r.unblock(ctx, res.Record.SHA256)
		if lifted {
			res.Changed = true
			details = append(details, "hash block lifted")
		} else {
			details = append(details, "hash was not blocked")
		}
	}
	res.Detail = join(details)
	res.AuditSeq, err = r.record(ctx, q, ActionRelease, target, string(from), string(res.Record.State), outcomeOf(res.Changed), res.Detail, err)
	return res, err
}

// Delete turns the record into a tombstone, drops its blob reference and
// purges the stored blob with the last reference, and blocks the SHA-256.
// Deleting a tombstone changes nothing (the hash is blocked again if it
// was unblocked meanwhile).
func (r *Reviewer) Delete(ctx context.Context, q Request, origin, id string) (Result, error) {
	if err := q.validate(); err != nil {
		return Result{}, err
	}
	return r.delete(ctx, q, origin, id, ActionDelete, true)
}

func (r *Reviewer) delete(ctx context.Context, q Request, origin, id, action string, block bool) (Result, error) {
	res, from, err := r.transition(ctx, q, origin, id, media.Delete)
	var detail string
	if err == nil {
		detail, err = r.dropBlob(ctx, q, res.Record, res.Changed, block)
	}
	if res.Changed && r.opts.OnDeleted != nil {
		r.opts.OnDeleted(ctx, res.Record)
	}
	res.Detail = detail
	res.AuditSeq, err = r.record(ctx, q, action, media.MXC(origin, id), string(from), string(res.Record.State), outcomeOf(res.Changed), detail, err)
	return res, err
}

// Rescan sends the media through the scanner again: its verdict is cleared
// (it is not served until the new one), the hash-level verdict is
// forgotten so the worker really scans instead of reusing it, and a blob
// in quarantine is moved back first (the worker moves it again if it is
// still infected). Rescanning pending media only queues another job.
func (r *Reviewer) Rescan(ctx context.Context, q Request, origin, id string) (Result, error) {
	if err := q.validate(); err != nil {
		return Result{}, err
	}
	target := media.MXC(origin, id)
	res, from, err := func() (Result, media.State, error) {
		if r.jobs == nil {
			return Result{}, "", ErrNoScanQueue
		}
		cur, rev, err := r.cat.Get(ctx, origin, id)
		if err != nil {
			return Result{}, "", err
		}
		if cur.State == media.StatePending {
			return Result{Record: cur, Revision: rev}, cur.State, r.jobs.Enqueue(ctx, cur, rev)
		}
		if !media.Allowed(cur.State, media.Rescan) {
			return Result{Record: cur, Revision: rev}, cur.State, fmt.Errorf("%w: rescan of %s media", ErrNotAllowed, cur.State)
		}
		if err := r.moveOut(ctx, cur); err != nil {
			return Result{}, cur.State, err
		}
		if err := r.forgetVerdict(ctx, cur.SHA256); err != nil {
			return Result{}, cur.State, err
		}
		rec, rev, err := catalog.Apply(ctx, r.cat, origin, id, media.Change{Transition: media.Rescan, At: r.now(), Actor: q.Actor, Reason: q.Reason})
		if err != nil {
			return Result{}, cur.State, err
		}
		return Result{Record: rec, Revision: rev, Changed: true}, cur.State, r.jobs.Enqueue(ctx, rec, rev)
	}()
	res.AuditSeq, err = r.record(ctx, q, ActionRescan, target, string(from), string(res.Record.State), outcomeOf(res.Changed), "", err)
	return res, err
}

// Quarantine takes clean (or still pending) media out of service.
// Quarantining quarantined media changes nothing; blocked media stays
// blocked (ErrNotAllowed: it is not served either).
func (r *Reviewer) Quarantine(ctx context.Context, q Request, origin, id string) (Result, error) {
	if err := q.validate(); err != nil {
		return Result{}, err
	}
	return r.quarantine(ctx, q, origin, id)
}

func (r *Reviewer) quarantine(ctx context.Context, q Request, origin, id string) (Result, error) {
	res, from, err := r.transition(ctx, q, origin, id, media.Quarantine)
	res.AuditSeq, err = r.record(ctx, q, ActionQuarantine, media.MXC(origin, id), string(from), string(res.Record.State), outcomeOf(res.Changed), "", err)
	return res, err
}

// Sample opens the stored plaintext of the media for forensics, whatever
// its state (a tombstone has none: media.ErrNotFound). The access is
// audited before the first byte is returned; without an audit entry there
// is no sample. The caller closes the reader and must serve it as an
// attachment, never inline.
func (r *Reviewer) Sample(ctx context.Context, q Request, origin, id string) (media.Record, io.ReadCloser, error) {
	if err := q.validate(); err != nil {
		return media.Record{}, nil, err
	}
	target := media.MXC(origin, id)
	rec, _, err := r.cat.Get(ctx, origin, id)
	var rc io.ReadCloser
	if err == nil {
		if rec.BlobKey == "" || rec.State.Final() || rec.State == media.StateReserved {
			err = fmt.Errorf("%w: %s media has no stored content", media.ErrNotFound, rec.State)
		} else {
			rc, err = r.blobs.Get(ctx, rec.BlobKey, 0, -1)
		}
	}
	detail := ""
	if err == nil {
		detail = fmt.Sprintf("%d bytes, sha256 %s", rec.Size, rec.SHA256)
	}
	_, err = r.record(ctx, q, ActionSample, target, string(rec.State), string(rec.State), "read", detail, err)
	if err != nil {
		if rc != nil {
			_ = rc.Close()
		}
		return media.Record{}, nil, err
	}
	return rec, rc, nil
}

func join(parts []string) string {
	out := ""
	for _, p := range parts {
		if out != "" {
			out += "; "
		}
		out += p
	}
	return out
}

// errNoChange aborts a Modify whose change is already in place.
var errNoChange = errors.New("no change")
