package testenv

import (
	"bytes"
	"compress/zlib"
	crand "crypto/rand"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math/rand/v2"
	"testing"
)

// EICAR returns the 68-byte EICAR anti-virus test file. It is assembled
// from parts so that no source file holds it whole (scanners would flag
// the checkout).
func EICAR() []byte {
	parts := []string{
		`X5O!P%@AP[4\PZX54(P^)7CC)7}$`,
		"EICAR-STANDARD-ANTIVIRUS-",
		"TEST-FILE!$H+H*",
	}
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// EICARSignature is the name the test database gives EICAR; clamd
// reports it with ".UNOFFICIAL" appended.
const EICARSignature = "Eicar-Test-Signature"

// ClamavTestfilesDir is where Debian's clamav-testfiles package puts its
// 44 samples; the test database detects all of them.
const ClamavTestfilesDir = "/usr/share/clamav-testfiles"

// Random returns n bytes of unique pseudo-random data (different on every
// call: clamd caches verdicts by hash, so benchmarks need fresh content).
func Random(n int) []byte {
	b := make([]byte, n)
	if _, err := io.ReadFull(RandomReader(int64(n)), b); err != nil {
		panic(err) // cannot happen: the generator does not fail
	}
	return b
}

// RandomReader returns a reader of n bytes of unique pseudo-random data,
// generated as it is read (ChaCha8 seeded from crypto/rand, > 1 GB/s).
func RandomReader(n int64) io.Reader {
	var seed [32]byte
	if _, err := crand.Read(seed[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return io.LimitReader(rand.NewChaCha8(seed), n)
}

// PNG returns a w×h PNG image of random pixels: a clean image in a real
// format, different on every call.
func PNG(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	px := Random(w * h * 3)
	for i := range w * h {
		img.Set(i%w, i/w, color.NRGBA{px[3*i], px[3*i+1], px[3*i+2], 255})
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// PDFWithAttachment returns a one-page PDF that carries data as an
// embedded file (a FlateDecode stream, as PDF writers store attachments),
// so an engine must parse the PDF and inflate the stream to see data.
func PDFWithAttachment(t testing.TB, name string, data []byte) []byte {
	t.Helper()
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	objects := []string{
		fmt.Sprintf("<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles << /Names [(%s) 4 0 R] >> >> >>", name),
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
		fmt.Sprintf("<< /Type /Filespec /F (%s) /EF << /F 5 0 R >> >>", name),
		fmt.Sprintf("<< /Type /EmbeddedFile /Filter /FlateDecode /Length %d /Params << /Size %d >> >>\nstream\n%s\nendstream",
			z.Len(), len(data), z.Bytes()),
	}
	var pdf bytes.Buffer
	pdf.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	offsets := make([]int, len(objects))
	for i, obj := range objects {
		offsets[i] = pdf.Len()
		fmt.Fprintf(&pdf, "%d 0 obj\n%s\nendobj\n", i+1, obj)
	}
	xref := pdf.Len()
	fmt.Fprintf(&pdf, "xref\n0 %d\n0000000000 65535 f \n", len(objects)+1)
	for _, off := range offsets {
		fmt.Fprintf(&pdf, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&pdf, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objects)+1, xref)
	return pdf.Bytes()
}
