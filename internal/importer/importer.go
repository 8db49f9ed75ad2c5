// Package importer brings the media of a running homeserver (Synapse or
// Dendrite) into mediarepo (`mediarepo import`): it reads the media
// tables of the homeserver's database and the files of its media store,
// both strictly read-only, and stores every file through the service's
// import flow under its original mxc:// URI, scanned like any upload.
//
// A run can be interrupted at any point and run again: media already in
// the catalog is skipped before a byte is read, so nothing is imported
// twice, and an item cut off mid-way leaves nothing behind (the service
// drops a blob whose record was not written). Thumbnails are not imported;
// mediarepo generates them on demand once the original scanned clean.
package importer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/mediarepo/mediarepo/internal/audit"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/service"
)

// Item is one row of the source's media tables, with where its file is.
type Item struct {
	Origin, ID string
	// Uploader is the local uploader's user ID ("" for remote media).
	Uploader    string
	ContentType string
	Filename    string
	CreatedAt   time.Time
	// Size is the length the database records, or -1 when it has none.
	Size int64
	// SHA256 is the lowercase hex SHA-256 the database records, or "".
	SHA256 string
	// Path is the file in the media store.
	Path   string
	Remote bool
	// QuarantinedBy is who quarantined it at the source ("": not).
	QuarantinedBy      string
	SafeFromQuarantine bool
	// Err says why the row cannot be imported (an unreadable row: a NULL
	// or malformed media ID, origin or file name). Nothing else is set
	// reliably then.
	Err error
}

// MXC returns the item's content URI.
func (it Item) MXC() string { return media.MXC(it.Origin, it.ID) }

// Totals are what a source holds, for the progress bar.
type Totals struct {
	Files int64
	// Bytes is the sum of the sizes the database records.
	Bytes int64
}

// Source lists a homeserver's media. Scan calls fn for every row in a
// stable order and stops at fn's first error, returning it; cancelling ctx
// stops it too. Rows that cannot be read are passed with Item.Err set.
type Source interface {
	// Name names the source kind for history and audit ("synapse").
	Name() string
	Totals(ctx context.Context) (Totals, error)
	Scan(ctx context.Context, fn func(Item) error) error
}

// Importer is what the import needs of the service (service.Service).
type Importer interface {
	Import(ctx context.Context, im service.Imported) (media.Record, error)
}

// Catalog answers whether media is already present (catalog.Catalog).
type Catalog interface {
	Get(ctx context.Context, origin, id string) (media.Record, uint64, error)
}

// Auditor appends audit entries (audit.Log).
type Auditor interface {
	Append(ctx context.Context, e audit.Entry) (audit.Entry, error)
}

// Progress is told about the run (the command's progress bar); nil: none.
type Progress interface {
	Start(t Totals)
	// Step reports one finished row and the bytes it accounted for.
	Step(bytes int64, r Report)
	Finish(r Report)
}

// Options configure a run.
type Options struct {
	// DryRun checks every row and file (present, readable, size) and
	// counts, but stores nothing.
	DryRun bool
	// Concurrency is how many files are stored at once (default 4).
	Concurrency int
	Progress    Progress
}

// Deps are the parts a run uses.
type Deps struct {
	Service Importer
	Catalog Catalog
	Audit   Auditor
	Log     *slog.Logger
}

// ErrAborted wraps the error that stopped a run before it went through
// every row (the catalog or blob store failing, ctx cancelled). Run it
// again to continue.
var ErrAborted = errors.New("import aborted")

// Run imports every row of src and reports what happened. It returns the
// report so far together with an error wrapping ErrAborted when it had to
// stop; the rows already done stay done.
func Run(ctx context.Context, src Source, d Deps, opts Options) (Report, error) {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	r := &run{src: src, d: d, opts: opts, actor: "import:" + src.Name(), start: time.Now()}
	totals, err := src.Totals(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("%w: counting the source's media: %w", ErrAborted, err)
	}
	r.report.Source, r.report.DryRun = src.Name(), opts.DryRun
	if opts.Progress != nil {
		opts.Progress.Start(totals)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	items := make(chan Item)
	var wg sync.WaitGroup
	for range opts.Concurrency {
		wg.Go(func() {
			for it := range items {
				if err := r.one(ctx, it); err != nil {
					cancel(err)
				}
			}
		})
	}
	serr := src.Scan(ctx, func(it Item) error {
		select {
		case items <- it:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	})
	close(items)
	wg.Wait()
	rep := r.snapshot()
	if opts.Progress != nil {
		opts.Progress.Finish(rep)
	}
	if cause := context.Cause(ctx); cause != nil {
		serr = cause // a worker's error, or the caller's cancellation
	}
	if serr != nil {
		return rep, fmt.Errorf("%w: %w", ErrAborted, serr)
	}
	return rep, nil
}

type run struct {
	src    Source
	d      Deps
	opts   Options
	actor  string
	start  time.Time
	mu     sync.Mutex
	report Report
}

func (r *run) snapshot() Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := r.report
	rep.Duration = time.Since(r.start)
	return rep
}

// count adds one row's outcome to the report.
func (r *run) count(o outcome, it Item, stored int64, err error) {
	r.mu.Lock()
	r.report.add(o, stored)
	rep := r.report
	r.mu.Unlock()
	if err != nil && o != outcomeAborted {
		r.d.Log.Warn("not imported", "media", it.MXC(), "outcome", o.String(), "file", it.Path, "err", err)
	}
	if r.opts.Progress != nil {
		rep.Duration = time.Since(r.start)
		r.opts.Progress.Step(max(it.Size, 0), rep)
	}
}

// one imports one row. It returns an error only for trouble that stops
// the whole run (the catalog, blob store or audit log failing).
func (r *run) one(ctx context.Context, it Item) error {
	if it.Err != nil {
		r.count(outcomeUnreadableRow, it, 0, it.Err)
		return nil
	}
	if _, _, err := r.d.Catalog.Get(ctx, it.Origin, it.ID); err == nil {
		r.count(outcomePresent, it, 0, nil)
		return nil
	} else if !errors.Is(err, media.ErrNotFound) {
		r.count(outcomeAborted, it, 0, err)
		return fmt.Errorf("looking up %s: %w", it.MXC(), err)
	}
	f, size, o, err := openFile(it)
	if err != nil {
		r.count(o, it, 0, err)
		return nil
	}
	defer f.Close()
	if r.opts.DryRun {
		r.count(dryRun(it, f, size))
		return nil
	}
	im := service.Imported{Origin: it.Origin, ID: it.ID, Uploader: it.Uploader, Filename: it.Filename,
		DeclaredType: it.ContentType, CreatedAt: it.CreatedAt, Body: &fileReader{f: f}, Size: size,
		SHA256: it.SHA256, Remote: it.Remote, SafeFromQuarantine: it.SafeFromQuarantine, Actor: r.actor,
		Note: r.note(it)}
	if it.QuarantinedBy != "" {
		reason := fmt.Sprintf("quarantined in %s by %s", r.src.Name(), it.QuarantinedBy)
		im.Quarantine = &media.Change{Transition: media.Quarantine, At: time.Now(), Actor: r.actor, Reason: reason}
		// The audit entry goes first: a crash between it and the record
		// repeats the entry on the next run but never loses it.
		if _, err := r.d.Audit.Append(ctx, audit.Entry{At: time.Now(), Actor: r.actor, Action: "import_quarantined",
			Target: it.MXC(), Reason: reason, To: string(media.StateQuarantined), Outcome: audit.OutcomeChanged,
			Detail: "imported quarantined from " + r.src.Name() + "; not scanned until an officer rescans or releases it"}); err != nil {
			r.count(outcomeAborted, it, 0, err)
			return fmt.Errorf("audit entry for %s: %w", it.MXC(), err)
		}
	}
	rec, err := r.d.Service.Import(ctx, im)
	o = classify(err)
	if o == outcomeImported && rec.State == media.StateQuarantined {
		o = outcomeQuarantined
	}
	r.count(o, it, rec.Size, err)
	if o == outcomeAborted {
		return fmt.Errorf("importing %s: %w", it.MXC(), err)
	}
	return nil
}

func (r *run) note(it Item) string {
	n := "imported from " + r.src.Name()
	if it.Remote {
		return n + " (cached remote media)"
	}
	if it.Uploader != "" {
		n += ", uploaded by " + it.Uploader
	}
	if !it.CreatedAt.IsZero() {
		n += " at " + it.CreatedAt.UTC().Format(time.RFC3339)
	}
	return n
}

// dryRun checks what a run would do with an opened file: where the
// database records a SHA-256, the file is read and hashed.
func dryRun(it Item, f io.Reader, size int64) (outcome, Item, int64, error) {
	o := outcomeImported
	if it.QuarantinedBy != "" {
		o = outcomeQuarantined
	}
	if it.SHA256 == "" {
		return o, it, size, nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return outcomeUnreadableFile, it, 0, err
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != it.SHA256 {
		return outcomeDamaged, it, 0, fmt.Errorf("%w: the file has SHA-256 %s, the database says %s", service.ErrContentMismatch, sum, it.SHA256)
	}
	return o, it, size, nil
}

// openFile opens the item's file read-only and checks its size against the
// database's.
func openFile(it Item) (*os.File, int64, outcome, error) {
	f, err := os.Open(it.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, outcomeMissing, err
	}
	if err != nil {
		return nil, 0, outcomeUnreadableFile, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file", it.Path)
	}
	if err != nil {
		f.Close()
		return nil, 0, outcomeUnreadableFile, err
	}
	if it.Size >= 0 && fi.Size() != it.Size {
		f.Close()
		return nil, 0, outcomeDamaged, fmt.Errorf("%w: the file has %d bytes, the database says %d", service.ErrContentMismatch, fi.Size(), it.Size)
	}
	return f, fi.Size(), outcomeImported, nil
}

// fileReader marks errors reading the media store's file, so that a bad
// file is told apart from a failing blob store.
type fileReader struct{ f io.Reader }

type fileError struct{ err error }

func (e *fileError) Error() string { return "reading the media store: " + e.err.Error() }
func (e *fileError) Unwrap() error { return e.err }

func (fr *fileReader) Read(p []byte) (int, error) {
	n, err := fr.f.Read(p)
	if err != nil && err != io.EOF {
		err = &fileError{err}
	}
	return n, err
}
