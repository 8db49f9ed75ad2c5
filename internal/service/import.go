package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/mediarepo/mediarepo/internal/media"
)

// finishTimeout bounds the catalog writes that finish an imported item
// once its content is stored.
const finishTimeout = 30 * time.Second

// ErrContentMismatch means imported content is not what the source's
// database says it is (another size or SHA-256): nothing is kept.
var ErrContentMismatch = errors.New("service: content differs from the source's record")

// Imported is one medium brought over from another homeserver's media
// store (mediarepo import): it keeps its original mxc:// URI and metadata.
type Imported struct {
	// Origin and ID are the original mxc://Origin/ID.
	Origin, ID string
	// Uploader is the local user who uploaded it ("" for remote media).
	Uploader     string
	Filename     string
	DeclaredType string
	// CreatedAt is when it was uploaded (or first cached) at the source.
	CreatedAt time.Time
	Body      io.Reader
	// Size is the length of Body, or -1.
	Size int64
	// SHA256 is the lowercase hex SHA-256 the source recorded ("": none);
	// content with another hash is refused with ErrContentMismatch.
	SHA256 string
	// Remote marks media the source had cached from another server.
	Remote bool
	// SafeFromQuarantine records the source's protection against bulk
	// quarantine.
	SafeFromQuarantine bool
	// Actor names the import in the record's history ("import:synapse").
	Actor string
	// Note is the history event's reason (where it came from).
	Note string
	// Quarantine, when not nil, is the change (media.Quarantine, by the
	// import, with its reason) under which the record is created: it is
	// stored quarantined in one write and no scan is queued, so it is never
	// servable, not even for a moment. Nil: pending, scan queued.
	Quarantine *media.Change
}

// Import stores imported media under its original media ID: the content
// goes through the same single pass as an upload (size cap, type policy,
// hash blocklist, sealing, dedup), the record is created pending (or
// quarantined, see Imported.Quarantine) with the source's metadata, and
// its scan is queued like an upload's; nothing is served before the
// verdict. Media already in the catalog is media.ErrExists, checked before
// a byte is read. Refusals keep nothing.
func (s *Service) Import(ctx context.Context, im Imported) (media.Record, error) {
	if err := media.ValidateServerName(im.Origin); err != nil {
		return media.Record{}, err
	}
	if err := media.ValidateMediaID(im.ID); err != nil {
		return media.Record{}, err
	}
	if im.Actor == "" {
		return media.Record{}, fmt.Errorf("%w: import without an actor", media.ErrMissingReason)
	}
	if _, _, err := s.catalog.Get(ctx, im.Origin, im.ID); err == nil {
		return media.Record{}, fmt.Errorf("%w: %s", media.ErrExists, media.MXC(im.Origin, im.ID))
	} else if !errors.Is(err, media.ErrNotFound) {
		return media.Record{}, err
	}
	ctype := im.DeclaredType
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	c, intent, err := s.store(ctx, Upload{Origin: im.Origin, Uploader: im.Uploader, Filename: im.Filename,
		DeclaredType: ctype, Body: im.Body, ContentLength: im.Size, importing: true}, im.ID)
	if err != nil {
		return media.Record{}, err
	}
	// The content is stored: finish this item even when the import is
	// interrupted now, so that it ends recorded or dropped, never with a
	// record write cut off mid-way.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	// giveUp drops what store took when no record will name it.
	giveUp := func() {
		s.dropRef(context.WithoutCancel(ctx), c)
		s.ReleaseUsage(ctx, im.Uploader, c.Size)
		s.dropIntent(context.WithoutCancel(ctx), intent)
	}
	if im.SHA256 != "" && c.SHA256 != im.SHA256 {
		giveUp()
		return media.Record{}, fmt.Errorf("%w: %s has SHA-256 %s, the source says %s", ErrContentMismatch, media.MXC(im.Origin, im.ID), c.SHA256, im.SHA256)
	}
	rec := media.NewPending(im.Origin, im.ID, im.Uploader, im.CreatedAt, c)
	rec.Remote = im.Remote
	rec.SafeFromQuarantine = im.SafeFromQuarantine
	rec.History[0] = media.Event{At: s.now(), Actor: im.Actor, Action: media.Import, To: media.StatePending, Reason: im.Note}
	if im.Quarantine != nil {
		if rec, err = rec.Apply(*im.Quarantine); err != nil {
			giveUp()
			return media.Record{}, err
		}
	}
	rev, err := s.catalog.Create(ctx, rec)
	if err != nil {
		giveUp()
		return media.Record{}, fmt.Errorf("recording %s: %w", rec.MXC(), err)
	}
	s.dropIntent(ctx, intent)
	s.metrics.uploads.WithLabelValues("imported").Inc()
	if rec.State != media.StatePending {
		return rec, nil
	}
	return s.queueImported(ctx, rec, rev)
}

// queueImported queues the scan of an imported record. Unlike an upload
// it never waits for the verdict: an import queues thousands of scans,
// which drain at the workers' pace. A failed publish leaves the record
// pending (never served) for the reconciler to queue again.
func (s *Service) queueImported(ctx context.Context, rec media.Record, rev uint64) (media.Record, error) {
	if s.opts.DevMarkClean {
		return s.afterUpload(ctx, rec, rev)
	}
	if err := s.jobs.Enqueue(ctx, rec, rev); err != nil {
		s.log.Error("queueing the scan of imported media failed; the reconciler will retry", "media", rec.MXC(), "err", err)
	}
	return rec, nil
}
