package thumbnail

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"testing"
)

// FuzzGenerate: any bytes give a thumbnail, UseOriginal or one of the
// package's errors; never a panic, never work past the limits.
func FuzzGenerate(f *testing.F) {
	f.Add(encodePNG(f, gradient(20, 10, true)))
	f.Add(encodeJPEG(f, photo(20, 10)))
	f.Add(withEXIF(encodeJPEG(f, photo(20, 10)), 6, binary.BigEndian))
	f.Add(animatedGIF(f, 20, 10, 3))
	f.Add(pngHeader(100000, 100000))
	for _, name := range []string{"gradient-lossless.webp", "gradient-lossy.webp", "gradient-alpha.webp"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	lim := Limits{MaxInputBytes: 1 << 16, MaxPixels: 1 << 16, MaxFrames: 16, MaxAnimatedPixels: 1 << 18}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, req := range []Request{{8, 8, MethodCrop, true}, {16, 4, MethodScale, false}} {
			res, err := Generate(context.Background(), bytes.NewReader(data), req, lim)
			switch {
			case err == nil && res.UseOriginal:
				if res.Width > req.Width || res.Height > req.Height {
					t.Fatalf("UseOriginal for %dx%d into %dx%d", res.Width, res.Height, req.Width, req.Height)
				}
			case err == nil:
				if res.Width > req.Width || res.Height > req.Height || len(res.Data) == 0 {
					t.Fatalf("%dx%d thumbnail (%d bytes) for %+v", res.Width, res.Height, len(res.Data), req)
				}
			case !errors.Is(err, ErrUnsupportedFormat) && !errors.Is(err, ErrCorrupt) &&
				!errors.Is(err, ErrTooManyPixels) && !errors.Is(err, ErrTooManyFrames) && !errors.Is(err, ErrTooLarge):
				t.Fatalf("unexpected error %v", err)
			}
		}
	})
}
