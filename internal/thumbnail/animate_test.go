package thumbnail

import (
	"bytes"
	"image"
	"image/color"
	"image/gif"
	"testing"
)

func decodeGIF(t *testing.T, res Result) *gif.GIF {
	t.Helper()
	if !res.Animated || res.ContentType != ContentTypeGIF {
		t.Fatalf("got Animated=%v %s, want an animated GIF", res.Animated, res.ContentType)
	}
	g, err := gif.DecodeAll(bytes.NewReader(res.Data))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestAnimatedGIF(t *testing.T) {
	data := animatedGIF(t, 120, 80, 6)
	res := generate(t, data, Request{60, 60, MethodScale, true}, Limits{})
	g := decodeGIF(t, res)
	if len(g.Image) != 6 || res.Width != 60 || res.Height != 40 {
		t.Fatalf("%d frames of %dx%d, want 6 of 60x40", len(g.Image), res.Width, res.Height)
	}
	want := testPalette()
	for i, f := range g.Image {
		if f.Bounds() != image.Rect(0, 0, 60, 40) {
			t.Errorf("frame %d bounds %v", i, f.Bounds())
		}
		if got := f.At(30, 20); !near(got, want[i%4], 0) {
			t.Errorf("frame %d is %v, want %v", i, got, want[i%4])
		}
		if g.Delay[i] != 10+i {
			t.Errorf("frame %d delay %d, want %d", i, g.Delay[i], 10+i)
		}
	}

	crop := decodeGIF(t, generate(t, data, Request{32, 32, MethodCrop, true}, Limits{}))
	if len(crop.Image) != 6 || crop.Image[0].Bounds() != image.Rect(0, 0, 32, 32) {
		t.Fatalf("crop: %d frames of %v", len(crop.Image), crop.Image[0].Bounds())
	}
}

// TestAnimatedComposition: partial frames are drawn over what the earlier
// frames left, transparent pixels show through, and the disposal methods
// (background, previous) are honoured, as a viewer shows them.
func TestAnimatedComposition(t *testing.T) {
	pal := testPalette()
	const red, green, blue, yellow, clear = 0, 1, 2, 3, 4
	centre := solidFrame(20, 20, 40, 40, pal, blue)
	holey := solidFrame(0, 0, 80, 80, pal, clear) // transparent but a yellow bar
	for y := 0; y < 10; y++ {
		for x := 0; x < 80; x++ {
			holey.SetColorIndex(x, y, yellow)
		}
	}
	src := &gif.GIF{
		Image: []*image.Paletted{
			solidFrame(0, 0, 80, 80, pal, red),     // 0: red everywhere
			centre,                                 // 1: blue centre over red, then back to red (previous)
			solidFrame(20, 20, 40, 40, pal, green), // 2: green centre, then cleared (background)
			holey,                                  // 3: yellow bar over what 2 left
		},
		Delay:    []int{5, 5, 5, 5},
		Disposal: []byte{gif.DisposalNone, gif.DisposalPrevious, gif.DisposalBackground, gif.DisposalNone},
	}
	g := decodeGIF(t, generate(t, encodeGIF(t, src), Request{40, 40, MethodScale, true}, Limits{}))
	type probe struct {
		frame, x, y int
		want        color.Color
	}
	transparent := color.RGBA{}
	for _, p := range []probe{
		{0, 20, 20, pal[red]},
		{1, 20, 20, pal[blue]}, {1, 2, 2, pal[red]},
		{2, 20, 20, pal[green]}, {2, 2, 2, pal[red]}, // 1 restored the red centre
		{3, 20, 20, transparent}, {3, 20, 2, pal[yellow]}, {3, 2, 30, pal[red]}, // 2 cleared its centre
	} {
		got := g.Image[p.frame].At(p.x, p.y)
		if _, _, _, a := p.want.RGBA(); a == 0 {
			if _, _, _, ga := got.RGBA(); ga != 0 {
				t.Errorf("frame %d (%d,%d) = %v, want transparent", p.frame, p.x, p.y, got)
			}
			continue
		}
		if !near(got, p.want, 0) {
			t.Errorf("frame %d (%d,%d) = %v, want %v", p.frame, p.x, p.y, got, p.want)
		}
	}
	for i, d := range g.Disposal {
		if d != gif.DisposalBackground {
			t.Errorf("output frame %d disposal %d, want background", i, d)
		}
	}
}

// TestQuantizerManyColours: a palette of 256 greys maps a smooth ramp onto
// its nearest entries.
func TestQuantizerManyColours(t *testing.T) {
	pal := make(color.Palette, 256)
	for i := range pal {
		pal[i] = color.RGBA{uint8(i), uint8(i), uint8(i), 255}
	}
	img := image.NewRGBA(image.Rect(0, 0, 256, 1))
	for x := 0; x < 256; x++ {
		img.SetRGBA(x, 0, color.RGBA{uint8(x), uint8(x), uint8(x), 255})
	}
	var q quantizer
	out := q.quantize(img, pal)
	for x := 0; x < 256; x++ {
		if got := out.At(x, 0); !near(got, img.At(x, 0), 8) {
			t.Fatalf("grey %d became %v", x, got)
		}
	}
}

// TestGIFFirstFrameSmallerThanCanvas: the still of a GIF is its canvas,
// where the first frame may cover only a part.
func TestGIFFirstFrameSmallerThanCanvas(t *testing.T) {
	g := &gif.GIF{
		Image:  []*image.Paletted{solidFrame(20, 0, 20, 20, testPalette(), 2)},
		Delay:  []int{0},
		Config: image.Config{ColorModel: testPalette(), Width: 40, Height: 20},
	}
	for _, animated := range []bool{false, true} {
		img := checkResult(t, generate(t, encodeGIF(t, g), Request{20, 20, MethodScale, animated}, Limits{}), ContentTypePNG, 20, 10)
		if _, _, _, a := img.At(2, 5).RGBA(); a != 0 {
			t.Errorf("left half %v, want transparent", img.At(2, 5))
		}
		if got := img.At(17, 5); !near(got, color.RGBA{0, 0, 255, 255}, 0) {
			t.Errorf("right half %v, want blue", got)
		}
	}
}
