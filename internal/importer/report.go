package importer

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/service"
)

// Report counts what a run did with every row.
type Report struct {
	Source string `json:"source"`
	DryRun bool   `json:"dry_run"`
	// Rows is how many rows were looked at.
	Rows int64 `json:"rows"`
	// Imported rows were stored and their scans queued (in a dry run:
	// would be imported).
	Imported int64 `json:"imported"`
	// Quarantined rows were imported quarantined (quarantined at the
	// source); they are not counted in Imported.
	Quarantined int64 `json:"quarantined"`
	// AlreadyPresent rows were in the catalog already (an earlier run).
	AlreadyPresent int64 `json:"already_present"`
	// MissingFiles rows have no file in the media store.
	MissingFiles int64 `json:"missing_files"`
	// UnreadableRows could not be read or have a malformed media ID,
	// origin or file name (never used as a path).
	UnreadableRows int64 `json:"unreadable_rows"`
	// UnreadableFiles exist but could not be read.
	UnreadableFiles int64 `json:"unreadable_files"`
	// Damaged files differ from the database (size or SHA-256).
	Damaged int64 `json:"damaged"`
	// Refused files were refused by mediarepo's policy (type, blocked
	// hash, size cap), like an upload would be.
	Refused int64 `json:"refused"`
	// Bytes is the plaintext stored (in a dry run: that would be).
	Bytes    int64         `json:"bytes"`
	Duration time.Duration `json:"duration_ns"`
}

// outcome is what happened to one row.
type outcome int

const (
	outcomeImported outcome = iota
	outcomeQuarantined
	outcomePresent
	outcomeMissing
	outcomeUnreadableRow
	outcomeUnreadableFile
	outcomeDamaged
	outcomeRefused
	// outcomeAborted: the row is not done and the run stops.
	outcomeAborted
)

func (o outcome) String() string {
	return [...]string{"imported", "quarantined", "already present", "missing file", "unreadable row",
		"unreadable file", "damaged", "refused", "aborted"}[o]
}

func (r *Report) add(o outcome, bytes int64) {
	if o == outcomeAborted {
		return // not done: the next run does it
	}
	r.Rows++
	switch o {
	case outcomeImported:
		r.Imported++
		r.Bytes += bytes
	case outcomeQuarantined:
		r.Quarantined++
		r.Bytes += bytes
	case outcomePresent:
		r.AlreadyPresent++
	case outcomeMissing:
		r.MissingFiles++
	case outcomeUnreadableRow:
		r.UnreadableRows++
	case outcomeUnreadableFile:
		r.UnreadableFiles++
	case outcomeDamaged:
		r.Damaged++
	case outcomeRefused:
		r.Refused++
	}
}

// classify maps the service's answer for one import to its outcome.
func classify(err error) outcome {
	var fe *fileError
	switch {
	case err == nil:
		return outcomeImported
	case errors.Is(err, media.ErrExists):
		return outcomePresent // a concurrent run won the race
	case errors.As(err, &fe):
		return outcomeUnreadableFile
	case errors.Is(err, service.ErrContentMismatch):
		return outcomeDamaged
	case errors.Is(err, media.ErrTypeForbidden), errors.Is(err, media.ErrHashBlocked), errors.Is(err, media.ErrTooLarge):
		return outcomeRefused
	case errors.Is(err, media.ErrInvalidID), errors.Is(err, media.ErrInvalidServerName):
		return outcomeUnreadableRow
	}
	return outcomeAborted
}

// FilesPerSecond is the rate of rows stored (imported or quarantined).
func (r Report) FilesPerSecond() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Imported+r.Quarantined) / r.Duration.Seconds()
}

// MBPerSecond is the rate of bytes stored, in MB (10^6 bytes) per second.
func (r Report) MBPerSecond() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Bytes) / 1e6 / r.Duration.Seconds()
}

// String is the final report the command prints.
func (r Report) String() string {
	var b strings.Builder
	title := "Import from " + r.Source
	verb := "imported"
	if r.DryRun {
		title += " (dry run: nothing stored)"
		verb = "would import"
	}
	fmt.Fprintf(&b, "%s, %d rows in %s\n", title, r.Rows, r.Duration.Round(time.Millisecond))
	line := func(name string, n int64, note string) {
		fmt.Fprintf(&b, "  %-17s %10d", name, n)
		if note != "" {
			b.WriteString("  " + note)
		}
		b.WriteByte('\n')
	}
	line(verb, r.Imported, "scans queued; served once clean")
	line("quarantined", r.Quarantined, "quarantined at the source; kept quarantined, audited")
	line("already present", r.AlreadyPresent, "")
	line("missing files", r.MissingFiles, "")
	line("unreadable rows", r.UnreadableRows, "")
	line("unreadable files", r.UnreadableFiles, "")
	line("damaged files", r.Damaged, "size or SHA-256 differs from the database")
	line("refused", r.Refused, "type policy, blocked hash or size cap")
	fmt.Fprintf(&b, "  %-17s %10.1f MB (%.1f files/s, %.1f MB/s)\n", "stored", float64(r.Bytes)/1e6, r.FilesPerSecond(), r.MBPerSecond())
	return b.String()
}
