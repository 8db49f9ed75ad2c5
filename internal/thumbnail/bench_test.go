package thumbnail

import (
	"bytes"
	"context"
	"image/jpeg"
	"testing"

	"golang.org/x/image/draw"
)

// BenchmarkThumbnail12MP measures a whole first request: read, check,
// decode, scale and encode a 4000×3000 JPEG to 320×240 (scale).
func BenchmarkThumbnail12MP(b *testing.B) {
	data := encodeJPEG(b, photo(4000, 3000))
	req := Request{Width: 320, Height: 240, Method: MethodScale}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, err := Generate(context.Background(), bytes.NewReader(data), req, Limits{})
		if err != nil || res.Width != 320 {
			b.Fatal(res.Width, err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "thumbnails/s")
}

// BenchmarkDecode12MP measures decoding the same JPEG alone.
func BenchmarkDecode12MP(b *testing.B) {
	data := encodeJPEG(b, photo(4000, 3000))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := jpeg.Decode(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decodes/s")
}

// BenchmarkScale12MP compares interpolators on the scaling step alone
// (decoded 12 MP JPEG to 320×240), the measurement behind resample's
// choice.
func BenchmarkScale12MP(b *testing.B) {
	img, err := jpeg.Decode(bytes.NewReader(encodeJPEG(b, photo(4000, 3000))))
	if err != nil {
		b.Fatal(err)
	}
	p := planFor(4000, 3000, Request{Width: 320, Height: 240, Method: MethodScale})
	for _, k := range []struct {
		name string
		k    draw.Interpolator
	}{
		{"NearestNeighbor", draw.NearestNeighbor},
		{"ApproxBiLinear", draw.ApproxBiLinear},
		{"BiLinear", draw.BiLinear},
		{"CatmullRom", draw.CatmullRom},
	} {
		b.Run(k.name, func(b *testing.B) {
			for b.Loop() {
				resampleWith(img, p, 1, k.k)
			}
		})
	}
	b.Run("Chosen", func(b *testing.B) {
		for b.Loop() {
			resample(img, p, 1)
		}
	})
}

// BenchmarkAnimatedGIF measures an animated thumbnail: 20 frames of
// 480×360 to 320×240.
func BenchmarkAnimatedGIF(b *testing.B) {
	data := animatedGIF(b, 480, 360, 20)
	req := Request{Width: 320, Height: 240, Method: MethodScale, Animated: true}
	b.ReportAllocs()
	for b.Loop() {
		if res, err := Generate(context.Background(), bytes.NewReader(data), req, Limits{}); err != nil || !res.Animated {
			b.Fatal(err)
		}
	}
}
