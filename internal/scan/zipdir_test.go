package scan_test

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/mediarepo/mediarepo/internal/scan"
)

// manyEntries is a stored zip of n empty entries with names of nameLen
// bytes.
func manyEntries(t testing.TB, n, nameLen int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	pad := strings.Repeat("n", max(0, nameLen-8))
	for i := range n {
		if _, err := zw.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("%s%08d", pad, i), Method: zip.Store}); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// allocated returns the bytes fn allocates.
func allocated(fn func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	fn()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// TestZipDirectoryCheckedBeforeParsing: a zip whose central directory is
// over the limits is refused as unscannable from its end record and a
// constant-memory walk of the directory, before archive/zip parses the
// directory into memory (which costs several times its size). The
// allocation bound shows that the directory was never parsed.
func TestZipDirectoryCheckedBeforeParsing(t *testing.T) {
	const bound = 2 << 20 // what the check may allocate: its buffers
	tooMany := manyEntries(t, 60_000, 8)
	longNames := manyEntries(t, 300, 60_000)
	// A count in the end record that lies (archive/zip compares only the
	// low 16 bits and reads on): 60,000 entries declared as 60000-65536.
	lying := bytes.Clone(manyEntries(t, 65_536+100, 8))
	end := bytes.LastIndex(lying, []byte("PK\x05\x06"))
	if end < 0 || binary.LittleEndian.Uint16(lying[end+10:]) != 0xffff {
		t.Fatal("expected a zip64 end record for 65636 entries")
	}
	loc := end - 20
	end64 := int(binary.LittleEndian.Uint64(lying[loc+8:]))
	binary.LittleEndian.PutUint64(lying[end64+24:], 100) // this disk
	binary.LittleEndian.PutUint64(lying[end64+32:], 100) // total

	cases := []struct {
		name   string
		data   []byte
		limits func(*scan.ArchiveLimits)
		reason string
	}{
		{"declared count", tooMany, nil, "declares 60000 entries"},
		{"declared directory size", longNames, func(l *scan.ArchiveLimits) { l.MaxDirectorySize = 1 << 20 }, "central directory of"},
		{"count that lies (zip64)", lying, nil, "more than 10000 entries"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := inspector(t, c.limits)
			var err error
			n := allocated(func() { err = inspect(t, in, c.data) })
			var ae *scan.ArchiveError
			if !errors.As(err, &ae) || !errors.Is(err, scan.ErrUnscannable) || !strings.Contains(err.Error(), c.reason) {
				t.Fatalf("Inspect: %v; want unscannable, %q", err, c.reason)
			}
			if n > bound {
				t.Fatalf("refusing %d bytes of zip allocated %d bytes: the directory was parsed (bound %d)", len(c.data), n, bound)
			}
		})
	}
	// Within the limits the same checks let archives through.
	if err := inspect(t, inspector(t, nil), manyEntries(t, 5_000, 8)); err != nil {
		t.Fatalf("5000 entries: %v", err)
	}
}
