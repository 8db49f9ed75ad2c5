package scan

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// archive/zip's NewReader reads the whole central directory into memory
// (a File with its name, extra and comment per entry) before the caller
// can look at a single entry, and it reads headers until they stop rather
// than up to the declared count (it compares only the low 16 bits). A
// 99 MiB upload of tiny entries cost 388 MiB live and 2 GiB peak that way.
// checkDirectory therefore reads the end-of-central-directory record (and
// the zip64 one) and walks the directory headers the way NewReader will,
// with constant memory, and refuses the archive before NewReader when the
// declared or the real count or directory size is over the limits.

// Zip record signatures and fixed lengths (APPNOTE 4.3).
const (
	sigDirectoryEnd     = "PK\x05\x06"
	sigDirectory64End   = "PK\x06\x06"
	sigDirectory64Loc   = "PK\x06\x07"
	sigDirectoryHeader  = "PK\x01\x02"
	directoryEndLen     = 22
	directory64LocLen   = 20
	directory64EndLen   = 56
	directoryHeaderLen  = 46
	maxDirectoryEndScan = 65 * 1024
)

// zipDirectory is what the end records declare.
type zipDirectory struct {
	records, size, offset uint64
	end                   int64 // offset of the (zip64) end record
}

// errNoDirectoryEnd: r has no end-of-central-directory record, so it is
// not a zip archive (archive/zip would answer zip.ErrFormat).
var errNoDirectoryEnd = errors.New("no end of central directory record")

// checkDirectory returns an *ArchiveError when the central directory of
// r is over the limits (maxEntries entries may still be added, maxBytes
// bytes of directory are accepted), errNoDirectoryEnd when r has no end
// record, nil when it is within the limits, or the read error.
func checkDirectory(r io.ReaderAt, size int64, path string, maxEntries int, maxBytes int64) error {
	d, err := readDirectoryEnd(r, size)
	if err != nil {
		return err
	}
	if d == nil {
		return errNoDirectoryEnd
	}
	if d.records > uint64(max(maxEntries, 0)) {
		return &ArchiveError{Path: path, Reason: fmt.Sprintf("declares %d entries, limit %d", d.records, maxEntries)}
	}
	if d.size > uint64(maxBytes) {
		return &ArchiveError{Path: path, Reason: fmt.Sprintf("declares a central directory of %d bytes, limit %d", d.size, maxBytes)}
	}
	if d.size > 1<<62 || d.offset > 1<<62 {
		return nil // NewReader refuses these itself
	}
	// Where NewReader starts reading headers (its baseOffset rule).
	start := d.end - int64(d.size)
	if base := start - int64(d.offset); base > 0 && isDirectoryHeader(r, int64(d.offset), size) {
		start = int64(d.offset)
	}
	if start < 0 || start >= size {
		return nil
	}
	br := bufio.NewReaderSize(io.NewSectionReader(r, start, size-start), 64<<10)
	var hdr [directoryHeaderLen]byte
	var entries int
	var bytesRead int64
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil
			}
			return fmt.Errorf("archive inspection: %w", err)
		}
		if string(hdr[:4]) != sigDirectoryHeader {
			return nil
		}
		entries++
		if entries > maxEntries {
			return &ArchiveError{Path: path, Reason: fmt.Sprintf("more than %d entries in its central directory", maxEntries)}
		}
		rest := int64(binary.LittleEndian.Uint16(hdr[28:])) + int64(binary.LittleEndian.Uint16(hdr[30:])) + int64(binary.LittleEndian.Uint16(hdr[32:]))
		bytesRead += directoryHeaderLen + rest
		if bytesRead > maxBytes {
			return &ArchiveError{Path: path, Reason: fmt.Sprintf("central directory of more than %d bytes", maxBytes)}
		}
		if _, err := br.Discard(int(rest)); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("archive inspection: %w", err)
		}
	}
}

func isDirectoryHeader(r io.ReaderAt, off, size int64) bool {
	if off < 0 || off+4 > size {
		return false
	}
	var sig [4]byte
	_, err := r.ReadAt(sig[:], off)
	return err == nil && string(sig[:]) == sigDirectoryHeader
}

// readDirectoryEnd finds the end record as archive/zip does (the last
// signature in the last 65 KiB whose comment fits; one read) and reads the
// zip64 end record when the classic one points to it. It returns nil when
// there is none: then archive/zip would not open r either.
func readDirectoryEnd(r io.ReaderAt, size int64) (*zipDirectory, error) {
	n := min(int64(maxDirectoryEndScan), size)
	buf := make([]byte, n)
	if _, err := r.ReadAt(buf, size-n); err != nil && err != io.EOF {
		return nil, fmt.Errorf("archive inspection: %w", err)
	}
	if p := findDirectoryEnd(buf); p >= 0 {
		return parseDirectoryEnd(r, buf[p:], size-n+int64(p))
	}
	return nil, nil
}

// findDirectoryEnd returns the offset in b of the last end record whose
// comment fits, or -1.
func findDirectoryEnd(b []byte) int {
	for i := len(b) - directoryEndLen; i >= 0; i-- {
		if string(b[i:i+4]) == sigDirectoryEnd {
			if i+directoryEndLen+int(binary.LittleEndian.Uint16(b[i+20:])) > len(b) {
				return -1
			}
			return i
		}
	}
	return -1
}

func parseDirectoryEnd(r io.ReaderAt, b []byte, off int64) (*zipDirectory, error) {
	d := &zipDirectory{
		records: uint64(binary.LittleEndian.Uint16(b[10:])),
		size:    uint64(binary.LittleEndian.Uint32(b[12:])),
		offset:  uint64(binary.LittleEndian.Uint32(b[16:])),
		end:     off,
	}
	if d.records != 0xffff && d.size != 0xffff && d.offset != 0xffffffff {
		return d, nil
	}
	// zip64: the locator sits just before the classic end record.
	if off < directory64LocLen {
		return d, nil
	}
	var loc [directory64LocLen]byte
	if _, err := r.ReadAt(loc[:], off-directory64LocLen); err != nil || string(loc[:4]) != sigDirectory64Loc {
		return d, nil
	}
	end64 := int64(binary.LittleEndian.Uint64(loc[8:]))
	var rec [directory64EndLen]byte
	if end64 < 0 || end64 > off {
		return d, nil
	}
	if _, err := r.ReadAt(rec[:], end64); err != nil || !bytes.Equal(rec[:4], []byte(sigDirectory64End)) {
		return d, nil
	}
	return &zipDirectory{
		records: binary.LittleEndian.Uint64(rec[32:]),
		size:    binary.LittleEndian.Uint64(rec[40:]),
		offset:  binary.LittleEndian.Uint64(rec[48:]),
		end:     end64,
	}, nil
}
