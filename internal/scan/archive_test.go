package scan_test

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/mediarepo/mediarepo/internal/scan"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

func inspector(t testing.TB, change func(*scan.ArchiveLimits)) *scan.ArchiveInspector {
	t.Helper()
	l := scan.DefaultArchiveLimits()
	if change != nil {
		change(&l)
	}
	in, err := scan.NewArchiveInspector(l)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func inspect(t testing.TB, in *scan.ArchiveInspector, data []byte) error {
	t.Helper()
	return in.Inspect(context.Background(), bytes.NewReader(data), int64(len(data)))
}

func TestInspectAccepts(t *testing.T) {
	in := inspector(t, nil)
	entry := testenv.ZipEntry{Name: "a.txt", Data: []byte("hello")}
	for name, data := range map[string][]byte{
		"empty":         {},
		"random":        testenv.Random(100 << 10),
		"png":           testenv.PNG(t, 16, 16),
		"pdf":           testenv.PDFWithAttachment(t, "a.txt", []byte("hello")),
		"zip":           testenv.Zip(t, entry, testenv.ZipEntry{Name: "b.bin", Data: testenv.Random(1 << 20), Store: true}),
		"empty-zip":     testenv.Zip(t),
		"nested-8":      testenv.NestedZip(t, 8, entry),
		"eicar-in-zip":  testenv.Zip(t, testenv.ZipEntry{Name: "eicar.com", Data: testenv.EICAR()}),
		"compressible":  testenv.Zip(t, testenv.ZipEntry{Name: "text.txt", Data: bytes.Repeat([]byte("the same line\n"), 50_000)}),
		"encrypted-zip": testenv.EncryptedZip(t, "secret.txt", []byte("secret"), "pw"),
	} {
		if err := inspect(t, in, data); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestInspectRefuses(t *testing.T) {
	entry := testenv.ZipEntry{Name: "a.txt", Data: []byte("hello")}
	many := make([]testenv.ZipEntry, 11)
	for i := range many {
		many[i] = testenv.ZipEntry{Name: fmt.Sprintf("f%d", i), Data: []byte("x")}
	}
	for _, tc := range []struct {
		name   string
		limits func(*scan.ArchiveLimits)
		data   []byte
	}{
		{"bomb-1GiB", nil, testenv.ZipOfZeros(t, 1, 1<<30, nil)},
		{"eicar-after-150MB", nil, testenv.ZipOfZeros(t, 1, 150<<20, testenv.EICAR())},
		{"ratio", nil, testenv.ZipOfZeros(t, 1, 50<<20, nil)},
		{"total-size", func(l *scan.ArchiveLimits) { l.MaxTotalSize = 5 << 20; l.MaxRatio = 1 << 20 },
			testenv.ZipOfZeros(t, 3, 2<<20, nil)},
		{"entries", func(l *scan.ArchiveLimits) { l.MaxEntries = 10 }, testenv.Zip(t, many...)},
		{"depth", nil, testenv.NestedZip(t, 9, entry)},
		{"nested-entries", func(l *scan.ArchiveLimits) { l.MaxEntries = 10 },
			testenv.Zip(t, testenv.ZipEntry{Name: "inner.zip", Data: testenv.Zip(t, many[:10]...)})},
		{"nested-too-big", func(l *scan.ArchiveLimits) { l.MaxNestedSize = 1 << 10 },
			testenv.NestedZip(t, 2, testenv.ZipEntry{Name: "r", Data: testenv.Random(4 << 10)})},
		{"lying-size", nil, lyingZip(t)},
		{"malformed", nil, append([]byte("PK\x03\x04"), testenv.Random(1000)...)},
		{"truncated", nil, testenv.Zip(t, testenv.ZipEntry{Name: "r", Data: testenv.Random(64 << 10)})[:30000]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := inspect(t, inspector(t, tc.limits), tc.data)
			var ae *scan.ArchiveError
			if !errors.As(err, &ae) || !errors.Is(err, scan.ErrUnscannable) {
				t.Fatalf("got %v, want an *ArchiveError wrapping ErrUnscannable", err)
			}
			t.Log(err)
		})
	}
}

// lyingZip declares 100 bytes for an entry that inflates to 1 MiB.
func lyingZip(t testing.TB) []byte {
	t.Helper()
	var comp bytes.Buffer
	fw, err := flate.NewWriter(&comp, flate.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateRaw(&zip.FileHeader{Name: "liar.bin", Method: zip.Deflate,
		CompressedSize64: uint64(comp.Len()), UncompressedSize64: 100})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(comp.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestInspectCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	data := testenv.Zip(t, testenv.ZipEntry{Name: "a", Data: []byte("a")})
	err := inspector(t, nil).Inspect(ctx, bytes.NewReader(data), int64(len(data)))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

func TestArchiveLimitsValidate(t *testing.T) {
	if err := scan.DefaultArchiveLimits().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	err := scan.ArchiveLimits{}.Validate()
	if err == nil {
		t.Fatal("zero limits accepted")
	}
	if _, err := scan.NewArchiveInspector(scan.ArchiveLimits{MaxEntries: 1}); err == nil {
		t.Error("NewArchiveInspector accepted invalid limits")
	}
}
