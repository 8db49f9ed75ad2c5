package e2ee

import (
	"bytes"
	"crypto/rand"
	"io"
	"testing"
)

func TestDecryptReaderAtMatchesStream(t *testing.T) {
	plain := make([]byte, 200_003)
	rand.Read(plain)
	ct, f, err := EncryptAttachment(plain, "mxc://example.org/abc")
	if err != nil {
		t.Fatal(err)
	}
	ra, err := NewDecryptReaderAt(bytes.NewReader(ct), int64(len(ct)), f)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ off, n int }{{0, 1}, {0, 16}, {1, 15}, {15, 2}, {16, 16}, {17, 1000}, {65535, 70000}, {len(plain) - 3, 3}, {len(plain) - 1, 10}} {
		buf := make([]byte, c.n)
		n, err := ra.ReadAt(buf, int64(c.off))
		want := plain[c.off:min(c.off+c.n, len(plain))]
		if !bytes.Equal(buf[:n], want) {
			t.Errorf("ReadAt(%d, %d): wrong plaintext", c.off, c.n)
		}
		if n < c.n && err != io.EOF {
			t.Errorf("ReadAt(%d, %d): short read %d without EOF: %v", c.off, c.n, n, err)
		}
	}
	all, err := io.ReadAll(io.NewSectionReader(ra, 0, int64(len(ct))))
	if err != nil || !bytes.Equal(all, plain) {
		t.Fatalf("sequential read through ReaderAt: %v", err)
	}
	bad := f
	bad.Key.K = "not base64!"
	if _, err := NewDecryptReaderAt(bytes.NewReader(ct), int64(len(ct)), bad); err == nil {
		t.Fatal("invalid key accepted")
	}
}
