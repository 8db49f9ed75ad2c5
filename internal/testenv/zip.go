package testenv

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	crand "crypto/rand"
	"hash/crc32"
	"io"
	"testing"
)

// ZipEntry is one file of a zip made by Zip.
type ZipEntry struct {
	Name string
	Data []byte
	// Store keeps the entry uncompressed (method Store) instead of Deflate.
	Store bool
}

// Zip returns a zip archive of the entries, in order.
func Zip(t testing.TB, entries ...ZipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := newZipWriter(&buf)
	for _, e := range entries {
		method := zip.Deflate
		if e.Store {
			method = zip.Store
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.Name, Method: method})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(e.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// NestedZip wraps inner in depth levels of zip: depth 1 is a zip holding
// inner, depth 2 a zip holding that zip, and so on.
func NestedZip(t testing.TB, depth int, inner ZipEntry) []byte {
	t.Helper()
	data := Zip(t, inner)
	for level := 2; level <= depth; level++ {
		data = Zip(t, ZipEntry{Name: "level.zip", Data: data})
	}
	return data
}

// ZipOfZeros returns a zip whose entries each hold size zero bytes and
// then tail (may be nil). A few entries of 1 GiB make a small zip bomb
// (about 1 MiB per GiB); ZipOfZeros(t, 1, 150<<20, EICAR()) hides EICAR
// after 150 MiB of zeros, beyond clamd's MaxFileSize.
func ZipOfZeros(t testing.TB, entries int, size int64, tail []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := newZipWriter(&buf)
	zeros := make([]byte, 1<<20)
	for i := range entries {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: "zeros-" + string(rune('a'+i%26)) + ".bin", Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		for left := size; left > 0; {
			n := min(left, int64(len(zeros)))
			if _, err := w.Write(zeros[:n]); err != nil {
				t.Fatal(err)
			}
			left -= n
		}
		if _, err := w.Write(tail); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// EncryptedZip returns a zip holding data under name, encrypted with
// password by traditional PKWARE encryption (ZipCrypto), the kind clamd
// reports as Heuristics.Encrypted.Zip with AlertEncrypted.
func EncryptedZip(t testing.TB, name string, data []byte, password string) []byte {
	t.Helper()
	crc := crc32.ChecksumIEEE(data)
	zc := newZipCrypto([]byte(password))
	header := make([]byte, 12)
	if _, err := crand.Read(header[:11]); err != nil {
		t.Fatal(err)
	}
	header[11] = byte(crc >> 24) // the password check byte
	body := make([]byte, 0, len(header)+len(data))
	for _, b := range header {
		body = append(body, zc.encrypt(b))
	}
	for _, b := range data {
		body = append(body, zc.encrypt(b))
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateRaw(&zip.FileHeader{
		Name:               name,
		Method:             zip.Store,
		Flags:              0x1, // encrypted
		CRC32:              crc,
		CompressedSize64:   uint64(len(body)),
		UncompressedSize64: uint64(len(data)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// newZipWriter returns a zip writer that deflates at BestSpeed, so that
// large entries of zeros are made quickly.
func newZipWriter(w io.Writer) *zip.Writer {
	zw := zip.NewWriter(w)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(w, flate.BestSpeed)
	})
	return zw
}

// zipCrypto is the traditional PKWARE stream cipher (APPNOTE 6.1).
type zipCrypto struct{ k0, k1, k2 uint32 }

func newZipCrypto(password []byte) *zipCrypto {
	z := &zipCrypto{0x12345678, 0x23456789, 0x34567890}
	for _, b := range password {
		z.update(b)
	}
	return z
}

func crc32Byte(crc uint32, b byte) uint32 {
	return crc32.IEEETable[byte(crc)^b] ^ crc>>8
}

func (z *zipCrypto) update(b byte) {
	z.k0 = crc32Byte(z.k0, b)
	z.k1 = (z.k1+z.k0&0xff)*134775813 + 1
	z.k2 = crc32Byte(z.k2, byte(z.k1>>24))
}

func (z *zipCrypto) encrypt(b byte) byte {
	t := z.k2&0xffff | 2
	c := b ^ byte((t*(t^1))>>8)
	z.update(b)
	return c
}
