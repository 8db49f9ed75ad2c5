package thumbnail

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/jpeg"
	"testing"
)

// progressiveBomb returns a JPEG marked progressive (SOF2) whose scan is
// repeated n times: the shape of the progressive-JPEG CPU bomb, where
// every one of many tiny scans makes the decoder pass over the image.
func progressiveBomb(t testing.TB, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 256, 256)), nil); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	sof := bytes.Index(data, []byte{0xff, 0xc0})
	sos := bytes.Index(data, []byte{0xff, 0xda})
	if sof < 0 || sos < 0 || !bytes.HasSuffix(data, []byte{0xff, 0xd9}) {
		t.Fatal("unexpected JPEG layout")
	}
	data[sof+1] = 0xc2
	scan := data[sos : len(data)-2]
	out := append([]byte{}, data[:sos]...)
	for range n {
		out = append(out, scan...)
	}
	return append(out, 0xff, 0xd9)
}

// TestJPEGScansCounted: a JPEG with more scans than the limit is refused
// from its segments before any decoding; one within it is not.
func TestJPEGScansCounted(t *testing.T) {
	req := Request{Width: 32, Height: 32, Method: MethodScale}
	bomb := progressiveBomb(t, 1000)
	_, err := Generate(context.Background(), bytes.NewReader(bomb), req, Limits{})
	if !errors.Is(err, ErrTooManyScans) || !errors.Is(err, ErrTooManyFrames) {
		t.Fatalf("%d-byte JPEG of 1000 scans: %v; want ErrTooManyScans", len(bomb), err)
	}
	if n := countJPEGScans(bomb, DefaultMaxJPEGScans); n != DefaultMaxJPEGScans+1 {
		t.Fatalf("counted %d scans, want to stop at %d", n, DefaultMaxJPEGScans+1)
	}
	if n := countJPEGScans(progressiveBomb(t, 10), DefaultMaxJPEGScans); n != 10 {
		t.Fatalf("counted %d scans of 10", n)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewRGBA(image.Rect(0, 0, 64, 64)), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(context.Background(), bytes.NewReader(buf.Bytes()), req, Limits{}); err != nil {
		t.Fatalf("baseline JPEG: %v", err)
	}
}

// TestDecodeStopsWithContext: a decode whose context has ended stops at
// its next read of the input instead of running to its end.
func TestDecodeStopsWithContext(t *testing.T) {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewRGBA(image.Rect(0, 0, 64, 64)), nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := decodeFirst(ctx, buf.Bytes(), formatJPEG); !errors.Is(err, context.Canceled) {
		t.Fatalf("decode after cancel: %v; want context.Canceled", err)
	}
}
