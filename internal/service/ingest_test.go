package service

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/mediarepo/mediarepo/internal/media"
)

func TestTypePolicy(t *testing.T) {
	p := NewTypePolicy([]string{"application/x-msdownload", "video/*", " Image/SVG+XML "})
	for ct, want := range map[string]bool{
		"application/x-msdownload":      true,
		"application/x-msdownload; a=b": true,
		"video/mp4":                     true,
		"image/svg+xml":                 true,
		"image/png":                     false,
		"":                              false,
		"application/octet-stream":      false,
		"videos/mp4":                    false,
		"APPLICATION/X-MSDOWNLOAD":      true,
		"application/x-msdownload-ish":  false,
		"not a type":                    false,
	} {
		if got := p.Blocked(ct); got != want {
			t.Errorf("Blocked(%q) = %v, want %v", ct, got, want)
		}
	}
}

func TestIngest(t *testing.T) {
	policy := NewTypePolicy([]string{"application/vnd.microsoft.portable-executable"})
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR" + strings.Repeat("x", 100))
	in := newIngest(bytes.NewReader(png), int64(len(png)), 1000, policy)
	if _, err := io.Copy(io.Discard, in); err != nil {
		t.Fatal(err)
	}
	if in.sniffed != "image/png" || in.n != int64(len(png)) || len(in.sum()) != 64 {
		t.Fatalf("sniffed %q n %d", in.sniffed, in.n)
	}
	in = newIngest(bytes.NewReader(make([]byte, 1001)), -1, 1000, policy)
	if _, err := io.Copy(io.Discard, in); !errors.Is(err, media.ErrTooLarge) {
		t.Fatalf("over the limit: %v", err)
	}
	exe := append([]byte("MZ\x90\x00\x03\x00\x00\x00\x04\x00"), make([]byte, 20000)...)
	in = newIngest(bytes.NewReader(exe), -1, 1<<20, policy)
	if _, err := io.Copy(io.Discard, in); !errors.Is(err, media.ErrTypeForbidden) {
		t.Fatalf("blocked sniffed type: %v", err)
	}
	if in.n > sniffLen+32<<10 {
		t.Fatalf("the refusal came after %d bytes, not at the first bytes", in.n)
	}
}

func TestOpaque(t *testing.T) {
	random := func(n int) []byte {
		b := make([]byte, n)
		rand.Read(b)
		return b
	}
	text := []byte(strings.Repeat("Sehr geehrte Damen und Herren, anbei der Bericht. ", 200))
	for _, tc := range []struct {
		name    string
		data    []byte
		sniffed string
		want    bool
	}{
		{"random 64 KiB", random(64 << 10), "", true},
		{"random 100 B", random(100), "", true},
		{"random 20 B", random(20), "", true},
		{"text", text, sniff(text), false},
		{"short text", text[:60], sniff(text[:60]), false},
		{"tiny text", []byte("Hello, Matrix!"), sniff([]byte("Hello, Matrix!")), false},
		{"random 68 B (encrypted EICAR)", random(68), "", true},
		{"zeros", make([]byte, 4096), "", false},
		{"random but a known type", random(4096), "application/zip", false},
		{"empty", nil, "", false},
	} {
		head := tc.data[:min(len(tc.data), sniffLen)]
		rec := media.Record{Content: media.Content{Size: int64(len(tc.data)), SniffedType: tc.sniffed, Entropy: entropy(head)}}
		if got := Opaque(rec); got != tc.want {
			t.Errorf("%s: Opaque = %v (entropy %.2f), want %v", tc.name, got, rec.Entropy, tc.want)
		}
	}
}

func TestSniffText(t *testing.T) {
	for in, want := range map[string]string{
		"Hello, Matrix!":            "text/plain",
		"Grüße\nZeile 2\tTab":       "text/plain",
		"\x89PNG\r\n\x1a\n\x00\x00": "image/png",
		"bin\x00ary":                "",
		"\xff\xfe\xfd":              "",
		"":                          "",
	} {
		if got := sniff([]byte(in)); got != want {
			t.Errorf("sniff(%q) = %q, want %q", in, got, want)
		}
	}
	cut := []byte("Grüße")[:3] // a rune cut at the end of the head
	if !looksText(cut) {
		t.Error("a rune cut at the end is still text")
	}
}

// TestRandomEntropyIsTheAverageOfRandomBytes: randomEntropy agrees with
// the mean entropy estimate of random bytes at every scale.
func TestRandomEntropyIsTheAverageOfRandomBytes(t *testing.T) {
	for _, n := range []int{2, 16, 100, 256, 1000, 4096, sniffLen} {
		const samples = 400
		var sum float64
		b := make([]byte, n)
		for range samples {
			rand.Read(b)
			sum += entropy(b)
		}
		mean, want := sum/samples, randomEntropy(n)
		if math.Abs(mean-want) > 0.02 {
			t.Errorf("n=%d: random bytes average %.3f bits, randomEntropy %.3f", n, mean, want)
		}
	}
}

// TestOpaqueRandomOfEveryLength: random bytes (what an encrypted
// attachment looks like) are opaque whatever their length, from 48 bytes
// up (below, repeated bytes are too likely to tell). The threshold on
// log2(n) let most random blobs of 200–400 bytes pass as not encrypted.
func TestOpaqueRandomOfEveryLength(t *testing.T) {
	sizes := []int{}
	for n := 48; n <= 1024; n++ {
		sizes = append(sizes, n)
	}
	for n := 1025; n <= sniffLen+1000; n += 97 {
		sizes = append(sizes, n)
	}
	for _, n := range sizes {
		b := make([]byte, n)
		for range 4 {
			rand.Read(b)
			head := b[:min(n, sniffLen)]
			rec := media.Record{Content: media.Content{Size: int64(n), Entropy: entropy(head)}}
			if !Opaque(rec) {
				t.Fatalf("random %d bytes (entropy %.3f) not opaque; threshold %.3f", n, rec.Entropy, 0.9*randomEntropy(min(n, sniffLen)))
			}
		}
	}
}

// BenchmarkRandomEntropy: the cost Opaque adds to a keyless download of
// content of unknown type (8 KiB and longer: sniffLen).
func BenchmarkRandomEntropy(b *testing.B) {
	for b.Loop() {
		randomEntropy(sniffLen)
	}
}
