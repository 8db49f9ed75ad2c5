package review

import (
	"context"
	"fmt"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
)

// Item is the outcome of a bulk action for one record.
type Item struct {
	MXC     string      `json:"mxc"`
	From    media.State `json:"from"`
	To      media.State `json:"to"`
	Changed bool        `json:"changed"`
	Error   string      `json:"error,omitempty"`
}

// Bulk is the outcome of an action over several records.
type Bulk struct {
	Target    string `json:"target"`
	Changed   int    `json:"changed"`
	Unchanged int    `json:"unchanged"`
	Failed    int    `json:"failed"`
	// Items lists the first MaxBulkItems records acted on (or left);
	// ItemsOmitted counts the rest, which the counts above include.
	Items        []Item `json:"items"`
	ItemsOmitted int    `json:"items_omitted,omitempty"`
	// Detail says what else happened (hash blocked).
	Detail   string `json:"detail,omitempty"`
	AuditSeq uint64 `json:"audit_seq"`
}

func (b *Bulk) add(e catalog.Entry, res Result, err error) {
	it := Item{MXC: e.Record.MXC(), From: e.Record.State, To: res.Record.State, Changed: res.Changed}
	switch {
	case err != nil:
		b.Failed++
		it.Error = err.Error()
		it.To = e.Record.State
	case res.Changed:
		b.Changed++
	default:
		b.Unchanged++
	}
	if len(b.Items) == MaxBulkItems {
		b.ItemsOmitted++
		return
	}
	b.Items = append(b.Items, it)
}

// MaxBulkItems is how many items a Bulk lists at most: an uploader's bulk
// action may touch millions of records, and the answer is held in memory.
const MaxBulkItems = 1000

// summary is the audit detail of a bulk action.
func (b *Bulk) summary() string {
	s := fmt.Sprintf("%d changed, %d unchanged, %d failed", b.Changed, b.Unchanged, b.Failed)
	if b.Detail != "" {
		s = b.Detail + "; " + s
	}
	return s
}

// QuarantineUploader quarantines every clean or pending record of the
// uploader (each one audited on its own, plus one entry for the whole).
// Records in other states, and imported records marked
// SafeFromQuarantine, are reported unchanged. The records are read a batch
// at a time; a catalog error part way stops the action, what was done
// stays done and is audited with the error, and repeating it completes it.
func (r *Reviewer) QuarantineUploader(ctx context.Context, q Request, userID string) (Bulk, error) {
	if err := q.validate(); err != nil {
		return Bulk{}, err
	}
	if err := media.ValidateUserID(userID); err != nil {
		return Bulk{}, err
	}
	b := Bulk{Target: userID, Items: []Item{}}
	// Media the homeserver it was imported from protected from bulk
	// quarantine stays as it is (Synapse's safe_from_quarantine).
	var safe int
	err := r.cat.ByUploader(ctx, userID, func(e catalog.Entry) error {
		if e.Record.SafeFromQuarantine {
			b.add(e, Result{Record: e.Record}, nil)
			safe++
			return nil
		}
		r.quarantineEntry(ctx, q, e, &b)
		return nil
	})
	if safe > 0 {
		b.Detail = fmt.Sprintf("%d safe from quarantine", safe)
	}
	b.AuditSeq, err = r.record(ctx, q, ActionQuarantineUser, userID, "", "", outcomeOf(b.Changed > 0), b.summary(), err)
	return b, err
}

// QuarantineHash blocks the SHA-256 at upload and quarantines every clean
// or pending record with that content.
func (r *Reviewer) QuarantineHash(ctx context.Context, q Request, sha string) (Bulk, error) {
	if err := q.validate(); err != nil {
		return Bulk{}, err
	}
	if !media.ValidSHA256(sha) {
		return Bulk{}, fmt.Errorf("%w: %q is not a lowercase hex SHA-256", media.ErrInvalidID, sha)
	}
	target := "sha256:" + sha
	b := Bulk{Target: target, Items: []Item{}}
	entries, err := r.cat.ByHash(ctx, sha)
	if err == nil {
		size := int64(0)
		if len(entries) > 0 {
			size = entries[0].Record.Size
		}
		var blocked bool
		blocked, err = r.blockHash(ctx, q, sha, size)
		if blocked {
			b.Detail = "hash blocked"
		} else {
			b.Detail = "hash was already blocked"
		}
	}
	if err == nil {
		r.quarantineAll(ctx, q, entries, &b)
	}
	changed := b.Changed > 0 || b.Detail == "hash blocked"
	b.AuditSeq, err = r.record(ctx, q, ActionQuarantineHash, target, "", "", outcomeOf(changed), b.summary(), err)
	return b, err
}

func (r *Reviewer) quarantineAll(ctx context.Context, q Request, entries []catalog.Entry, b *Bulk) {
	for _, e := range entries {
		r.quarantineEntry(ctx, q, e, b)
	}
}

// quarantineEntry quarantines one record of a bulk action, or reports it
// unchanged when its state allows no quarantine.
func (r *Reviewer) quarantineEntry(ctx context.Context, q Request, e catalog.Entry, b *Bulk) {
	if !media.Allowed(e.Record.State, media.Quarantine) {
		b.add(e, Result{Record: e.Record}, nil)
		return
	}
	res, err := r.quarantine(ctx, q, e.Record.Origin, e.Record.ID)
	b.add(e, res, err)
}

// EraseUploader deletes every record of the uploader that has content (a
// data-protection erasure request): tombstones stay, blobs are purged
// with their last reference, hashes are NOT blocked. Reservations without
// content expire on their own and are reported unchanged. Each record is
// audited, plus one entry for the whole. Like QuarantineUploader, it reads
// the records a batch at a time, and a repeat completes a stopped erasure.
func (r *Reviewer) EraseUploader(ctx context.Context, q Request, userID string) (Bulk, error) {
	if err := q.validate(); err != nil {
		return Bulk{}, err
	}
	if err := media.ValidateUserID(userID); err != nil {
		return Bulk{}, err
	}
	b := Bulk{Target: userID, Items: []Item{}}
	err := r.cat.ByUploader(ctx, userID, func(e catalog.Entry) error {
		if !media.Allowed(e.Record.State, media.Delete) {
			b.add(e, Result{Record: e.Record}, nil)
			return nil
		}
		res, derr := r.delete(ctx, q, e.Record.Origin, e.Record.ID, ActionEraseUploaderRec, false)
		b.add(e, res, derr)
		return nil
	})
	b.AuditSeq, err = r.record(ctx, q, ActionEraseUploader, userID, "", "", outcomeOf(b.Changed > 0), b.summary(), err)
	return b, err
}
