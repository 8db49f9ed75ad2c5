package thumbnail

import (
	"bytes"
	"image"
	"image/color/palette"
	"image/jpeg"
	"testing"

	"golang.org/x/image/draw"
)

func TestPlanFor(t *testing.T) {
	tests := []struct {
		name string
		w, h int
		req  Request
		want plan
	}{
		{"scale landscape", 4000, 3000, Request{320, 240, MethodScale, false}, plan{outW: 320, outH: 240, cropW: 4000, cropH: 3000}},
		{"scale into a square", 4000, 3000, Request{96, 96, MethodScale, false}, plan{outW: 96, outH: 72, cropW: 4000, cropH: 3000}},
		{"scale portrait", 3000, 4000, Request{320, 240, MethodScale, false}, plan{outW: 180, outH: 240, cropW: 3000, cropH: 4000}},
		{"scale thin line", 10000, 1, Request{100, 100, MethodScale, false}, plan{outW: 100, outH: 1, cropW: 10000, cropH: 1}},
		{"crop landscape to square", 4000, 3000, Request{96, 96, MethodCrop, false}, plan{outW: 96, outH: 96, cropW: 3000, cropH: 3000}},
		{"crop portrait to wide", 3000, 4000, Request{320, 240, MethodCrop, false}, plan{outW: 320, outH: 240, cropW: 3000, cropH: 2250}},
		{"crop, one side too small", 200, 100, Request{96, 400, MethodCrop, false}, plan{outW: 96, outH: 100, cropW: 96, cropH: 100}},
		{"fits", 200, 100, Request{200, 100, MethodScale, false}, plan{useOriginal: true, outW: 200, outH: 100, cropW: 200, cropH: 100}},
	}
	for _, tt := range tests {
		if got := planFor(tt.w, tt.h, tt.req); got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

// TestResampleQuality: the box-reduced path looks like Catmull-Rom over
// the whole source (mean difference per channel under 2 of 255) for every
// image type the decoders return, on a picture with fine detail where
// sampling few pixels (ApproxBiLinear) visibly aliases.
func TestResampleQuality(t *testing.T) {
	const w, h = 2400, 1800
	rgba := photo(w, h)
	ycc, err := jpeg.Decode(bytes.NewReader(encodeJPEG(t, rgba)))
	if err != nil {
		t.Fatal(err)
	}
	nrgba := image.NewNRGBA(rgba.Bounds())
	gray := image.NewGray(rgba.Bounds())
	paletted := image.NewPaletted(rgba.Bounds(), palette.Plan9)
	draw.Draw(nrgba, nrgba.Bounds(), rgba, image.Point{}, draw.Src)
	draw.Draw(gray, gray.Bounds(), rgba, image.Point{}, draw.Src)
	draw.Draw(paletted, paletted.Bounds(), rgba, image.Point{}, draw.Src)
	for i := 3; i < len(nrgba.Pix); i += 4 {
		nrgba.Pix[i] = uint8(i / 4 % w * 255 / w) // alpha ramp left to right
	}
	nycca := image.NewNYCbCrA(rgba.Bounds(), image.YCbCrSubsampleRatio420)
	copy(nycca.YCbCr.Y, ycc.(*image.YCbCr).Y)
	copy(nycca.YCbCr.Cb, ycc.(*image.YCbCr).Cb)
	copy(nycca.YCbCr.Cr, ycc.(*image.YCbCr).Cr)
	for i := range nycca.A {
		nycca.A[i] = uint8(i / w * 255 / h) // alpha ramp top to bottom
	}
	for _, tt := range []struct {
		name string
		img  image.Image
	}{
		{"RGBA", rgba}, {"YCbCr 4:2:0", ycc}, {"NRGBA", nrgba}, {"NYCbCrA", nycca}, {"Gray", gray}, {"Paletted", paletted},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, req := range []Request{{320, 240, MethodScale, false}, {96, 96, MethodCrop, false}} {
				p := planFor(w, h, req)
				fast := resample(tt.img, p, 1)
				ref := resampleWith(tt.img, p, 1, draw.CatmullRom)
				naive := resampleWith(tt.img, p, 1, draw.ApproxBiLinear)
				if fast.Bounds() != image.Rect(0, 0, p.outW, p.outH) {
					t.Fatalf("bounds %v", fast.Bounds())
				}
				t.Logf("%s: mean difference from Catmull-Rom: box+Catmull-Rom %.2f, ApproxBiLinear %.2f", req.Method, meanDiff(fast, ref), meanDiff(naive, ref))
				if d := meanDiff(fast, ref); d > 2 {
					t.Errorf("%s: box+Catmull-Rom differs from Catmull-Rom by %.2f per channel", req.Method, d)
				}
				if d := meanDiff(naive, ref); d < 2 && tt.name == "RGBA" {
					t.Errorf("ApproxBiLinear differs by only %.2f: the test picture has no detail to alias", d)
				}
			}
		})
	}
}

func meanDiff(a, b *image.RGBA) float64 {
	var sum int
	for i := range a.Pix {
		d := int(a.Pix[i]) - int(b.Pix[i])
		sum += max(d, -d)
	}
	return float64(sum) / float64(len(a.Pix))
}
