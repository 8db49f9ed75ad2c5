package scan

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"io"
)

// ClamAV trims what it scans inside archives to its limits (MaxFileSize,
// MaxScanSize) and, without AlertExceedsMax, reports the rest OK: a 1 MB
// zip of 1 GiB of zeros scans OK, and EICAR placed after 150 MB of zeros
// inside a small zip is not found. ArchiveInspector therefore reads zip
// archives itself, before the engine, and reports what exceeds the limits
// as unscannable.

// ArchiveLimits bound what ArchiveInspector accepts in a zip archive.
// Counts and sizes add up over nested archives.
type ArchiveLimits struct {
	// MaxEntries bounds the number of entries (clamd's MaxFiles).
	MaxEntries int `yaml:"max_entries"`
	// MaxEntrySize bounds one entry's uncompressed size (clamd's MaxFileSize).
	MaxEntrySize int64 `yaml:"max_entry_size"`
	// MaxTotalSize bounds the sum of uncompressed sizes (clamd's MaxScanSize).
	MaxTotalSize int64 `yaml:"max_total_size"`
	// MaxRatio bounds uncompressed/compressed size of an entry larger than
	// RatioMinSize (small, very regular files compress well legitimately).
	MaxRatio     int64 `yaml:"max_ratio"`
	RatioMinSize int64 `yaml:"ratio_min_size"`
	// MaxDepth bounds nesting: 1 is a zip, 2 a zip in a zip.
	MaxDepth int `yaml:"max_depth"`
	// MaxNestedSize bounds a nested archive, which is inflated into memory
	// to be inspected.
	MaxNestedSize int64 `yaml:"max_nested_size"`
	// MaxDirectorySize bounds a zip's central directory, which is read
	// into memory (names, extras, comments of all entries): checked from
	// the end record and a constant-memory walk before it is parsed.
	MaxDirectorySize int64 `yaml:"max_directory_size"`
}

// DefaultArchiveLimits matches the project's clamd limits (MaxFiles 10000,
// MaxFileSize 100M, MaxScanSize 400M) with a ratio of 100 above 1 MiB, a
// depth of 8, nested archives up to 64 MiB and a central directory of up
// to 16 MiB (10000 entries with names, extras and comments of 1.6 KB each).
func DefaultArchiveLimits() ArchiveLimits {
	return ArchiveLimits{
		MaxEntries:       10000,
		MaxEntrySize:     100 << 20,
		MaxTotalSize:     400 << 20,
		MaxRatio:         100,
		RatioMinSize:     1 << 20,
		MaxDepth:         8,
		MaxNestedSize:    64 << 20,
		MaxDirectorySize: 16 << 20,
	}
}

// Validate reports every limit that is not positive.
func (l ArchiveLimits) Validate() error {
	var errs []error
	check := func(name string, v int64) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("archive limits: %s must be positive, is %d", name, v))
		}
	}
	check("max_entries", int64(l.MaxEntries))
	check("max_entry_size", l.MaxEntrySize)
	check("max_total_size", l.MaxTotalSize)
	check("max_ratio", l.MaxRatio)
	check("ratio_min_size", l.RatioMinSize)
	check("max_depth", int64(l.MaxDepth))
	check("max_nested_size", l.MaxNestedSize)
	check("max_directory_size", l.MaxDirectorySize)
	return errors.Join(errs...)
}

// ArchiveError is an archive that ArchiveInspector refuses: a bomb, a
// malformed archive, or one beyond the limits. It wraps ErrUnscannable.
type ArchiveError struct {
	// Path names the entry, "outer.zip!inner.zip!file" style; empty for
	// the archive itself.
	Path string
	// Reason says what is wrong, in words.
	Reason string
}

// Error implements error.
func (e *ArchiveError) Error() string {
	if e.Path == "" {
		return "archive: " + e.Reason
	}
	return fmt.Sprintf("archive entry %q: %s", e.Path, e.Reason)
}

// Unwrap makes errors.Is(err, ErrUnscannable) true.
func (e *ArchiveError) Unwrap() error { return ErrUnscannable }

// ArchiveInspector checks zip archives against ArchiveLimits. It needs
// random access (the zip central directory is at the end), so it takes an
// io.ReaderAt and the size. It checks the end record's declared entry
// count and directory size and walks the directory in constant memory
// (zipdir.go), then parses the central directory, then inflates
// every stored or deflated entry once, counting its real size against the
// declared one (headers can lie) and descending into nested zips. Its
// ReadAt calls are 256 KiB or smaller; a ReaderAt over ranged GETs of a
// blob store serves it well. Safe for concurrent use.
type ArchiveInspector struct {
	limits ArchiveLimits
}

// NewArchiveInspector returns an inspector with the limits, which must be valid.
func NewArchiveInspector(limits ArchiveLimits) (*ArchiveInspector, error) {
	if err := limits.Validate(); err != nil {
		return nil, err
	}
	return &ArchiveInspector{limits: limits}, nil
}

// inspectionRevision changes whenever the inspection's code judges
// differently; it is part of Fingerprint, so older verdicts are not
// reused after such a change.
const inspectionRevision = 3

// Fingerprint names the inspection's revision and limits (for
// scan.ReuseBasis).
func (in *ArchiveInspector) Fingerprint() string {
	l := in.limits
	return fmt.Sprintf("zip-inspection r%d entries=%d entry=%d total=%d ratio=%d/%d depth=%d nested=%d directory=%d",
		inspectionRevision, l.MaxEntries, l.MaxEntrySize, l.MaxTotalSize, l.MaxRatio, l.RatioMinSize, l.MaxDepth, l.MaxNestedSize, l.MaxDirectorySize)
}

// Inspect returns nil when r is not a zip archive or is one within the
// limits; an *ArchiveError (wrapping ErrUnscannable) when the archive is
// refused; any other error when reading r failed or ctx ended.
func (in *ArchiveInspector) Inspect(ctx context.Context, r io.ReaderAt, size int64) error {
	st := &inspection{ctx: ctx, limits: in.limits}
	return st.zip(r, size, "", 1)
}

// zipMagic starts every zip (local file header; empty archive).
var zipMagic = [][]byte{[]byte("PK\x03\x04"), []byte("PK\x05\x06")}

func looksLikeZip(head []byte) bool {
	for _, m := range zipMagic {
		if bytes.HasPrefix(head, m) {
			return true
		}
	}
	return false
}

type inspection struct {
	ctx     context.Context
	limits  ArchiveLimits
	entries int
	total   int64
}

func (st *inspection) zip(r io.ReaderAt, size int64, path string, depth int) error {
	head := make([]byte, 4)
	n, err := r.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		return fmt.Errorf("archive inspection: %w", err)
	}
	err = checkDirectory(r, size, path, st.limits.MaxEntries-st.entries, st.limits.MaxDirectorySize)
	switch {
	case errors.Is(err, errNoDirectoryEnd) && looksLikeZip(head[:n]):
		return &ArchiveError{Path: path, Reason: "malformed zip: " + err.Error()}
	case errors.Is(err, errNoDirectoryEnd) && depth == 1:
		return nil // not a zip
	case err != nil && !errors.Is(err, errNoDirectoryEnd):
		return err
	}
	zr, err := zip.NewReader(r, size)
	if errors.Is(err, zip.ErrInsecurePath) {
		err = nil // names like "../x" concern extractors, not scanning
	}
	if err != nil {
		if looksLikeZip(head[:n]) {
			return &ArchiveError{Path: path, Reason: "malformed zip: " + err.Error()}
		}
		if depth == 1 && errors.Is(err, zip.ErrFormat) {
			return nil // not a zip
		}
		return fmt.Errorf("archive inspection: %w", err)
	}
	if depth > st.limits.MaxDepth {
		return &ArchiveError{Path: path, Reason: fmt.Sprintf("zips nested deeper than %d", st.limits.MaxDepth)}
	}
	for _, f := range zr.File {
		if err := st.entry(f, join(path, f.Name), depth); err != nil {
			return err
		}
	}
	return nil
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "!" + name
}

func (st *inspection) entry(f *zip.File, path string, depth int) error {
	if err := st.ctx.Err(); err != nil {
		return err
	}
	l := st.limits
	st.entries++
	if st.entries > l.MaxEntries {
		return &ArchiveError{Path: path, Reason: fmt.Sprintf("more than %d entries", l.MaxEntries)}
	}
	declared := f.UncompressedSize64
	if declared > uint64(l.MaxEntrySize) {
		return &ArchiveError{Path: path, Reason: fmt.Sprintf("declares %d bytes uncompressed, limit %d", declared, l.MaxEntrySize)}
	}
	st.total += int64(declared)
	if st.total > l.MaxTotalSize {
		return &ArchiveError{Path: path, Reason: fmt.Sprintf("archive holds more than %d bytes uncompressed", l.MaxTotalSize)}
	}
	if int64(declared) > l.RatioMinSize && int64(declared)/max(int64(f.CompressedSize64), 1) > l.MaxRatio {
		return &ArchiveError{Path: path, Reason: fmt.Sprintf("compression ratio %d:1 above %d:1", int64(declared)/max(int64(f.CompressedSize64), 1), l.MaxRatio)}
	}
	if f.Flags&0x1 != 0 || f.FileInfo().IsDir() {
		return nil // encrypted entries are the engine's (AlertEncrypted)
	}
	var rc io.ReadCloser
	switch f.Method {
	case zip.Store, zip.Deflate:
		raw, err := f.OpenRaw()
		if err != nil {
			return &ArchiveError{Path: path, Reason: err.Error()}
		}
		br := bufio.NewReaderSize(&ctxReader{ctx: st.ctx, r: raw}, 256<<10)
		if f.Method == zip.Store {
			rc = io.NopCloser(br)
		} else {
			rc = flate.NewReader(br)
		}
	default:
		// Other methods (bzip2, LZMA, ...): the declared sizes were
		// checked; the engine inflates them within its own limits.
		return nil
	}
	defer rc.Close()
	return st.content(rc, declared, path, depth)
}

// content reads one entry's data, checks its real size against the
// declared one, and inspects it when it is itself a zip.
func (st *inspection) content(rc io.Reader, declared uint64, path string, depth int) error {
	br := bufio.NewReaderSize(io.LimitReader(rc, int64(declared)+1), 64<<10)
	head, err := br.Peek(4)
	if err != nil && err != io.EOF {
		return st.readErr(err, path)
	}
	var got int64
	if looksLikeZip(head) {
		if declared > uint64(st.limits.MaxNestedSize) {
			return &ArchiveError{Path: path, Reason: fmt.Sprintf("nested zip of %d bytes, limit %d", declared, st.limits.MaxNestedSize)}
		}
		data, err := io.ReadAll(br)
		if err != nil {
			return st.readErr(err, path)
		}
		if got = int64(len(data)); uint64(got) == declared {
			return st.zip(bytes.NewReader(data), got, path, depth+1)
		}
	} else if got, err = io.Copy(io.Discard, br); err != nil {
		return st.readErr(err, path)
	}
	if uint64(got) != declared {
		return &ArchiveError{Path: path, Reason: fmt.Sprintf("declares %d bytes but inflates to %d or more", declared, got)}
	}
	return nil
}

func (st *inspection) readErr(err error, path string) error {
	if cerr := st.ctx.Err(); cerr != nil {
		return cerr
	}
	var ce flate.CorruptInputError
	if errors.As(err, &ce) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &ArchiveError{Path: path, Reason: "corrupt data: " + err.Error()}
	}
	return fmt.Errorf("archive inspection of %q: %w", path, err)
}

// ctxReader ends reads once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
