package thumbnail

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"runtime"
	"testing"
)

// bombs are headers that claim far more pixels than the limit, one per
// format; none carries the pixels it claims.
func bombs(t *testing.T) map[string][]byte {
	jpg := encodeJPEG(t, photo(16, 16))
	sof := bytes.Index(jpg, []byte{0xff, 0xc0})
	if sof < 0 {
		t.Fatal("no SOF0 in the test JPEG")
	}
	binary.BigEndian.PutUint16(jpg[sof+5:], 65000) // height
	binary.BigEndian.PutUint16(jpg[sof+7:], 65000) // width

	g := animatedGIF(t, 16, 16, 2)
	binary.LittleEndian.PutUint16(g[6:], 65535)
	binary.LittleEndian.PutUint16(g[8:], 65535)

	webp := []byte("RIFF\x24\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x00\x00\x00\x00")
	webp = append(webp, 0xff, 0x3f, 0x00, 0xff, 0x3f, 0x00) // 16384×16384 canvas
	webp = append(webp, "VP8 \x00\x00\x00\x00"...)
	return map[string][]byte{
		"png 100000x100000": pngHeader(100000, 100000),
		"png 32001x1000":    pngHeader(32001, 1000),
		"jpeg 65000x65000":  jpg,
		"gif 65535x65535":   g,
		"webp 16384x16384":  webp,
	}
}

// TestPixelBomb: refused from the header, with almost nothing allocated.
func TestPixelBomb(t *testing.T) {
	for name, data := range bombs(t) {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := Generate(context.Background(), bytes.NewReader(data), Request{96, 96, MethodCrop, true}, Limits{})
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrTooManyPixels) {
				t.Fatalf("got %v, want ErrTooManyPixels", err)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 256<<10 {
				t.Fatalf("refusing the bomb allocated %d bytes", n)
			}
			allocs := testing.AllocsPerRun(10, func() {
				_, _ = Generate(context.Background(), bytes.NewReader(data), Request{96, 96, MethodCrop, false}, Limits{})
			})
			if allocs > 100 {
				t.Fatalf("%v allocations per refusal", allocs)
			}
		})
	}
	t.Run("a lower MaxPixels", func(t *testing.T) {
		data := encodePNG(t, gradient(100, 100, false))
		if _, err := Generate(context.Background(), bytes.NewReader(data), Request{8, 8, MethodCrop, false}, Limits{MaxPixels: 9999}); !errors.Is(err, ErrTooManyPixels) {
			t.Fatalf("got %v, want ErrTooManyPixels", err)
		}
		generate(t, data, Request{8, 8, MethodCrop, false}, Limits{MaxPixels: 10000})
	})
}

func TestTooManyFrames(t *testing.T) {
	data := animatedGIF(t, 4, 4, 12)
	for _, animated := range []bool{false, true} {
		_, err := Generate(context.Background(), bytes.NewReader(data), Request{2, 2, MethodCrop, animated}, Limits{MaxFrames: 11})
		if !errors.Is(err, ErrTooManyFrames) {
			t.Fatalf("animated=%v: got %v, want ErrTooManyFrames", animated, err)
		}
	}
	generate(t, data, Request{2, 2, MethodCrop, true}, Limits{MaxFrames: 12})

	// The default: 501 frames of one pixel each are refused, unread.
	g := &gif.GIF{}
	for range DefaultMaxFrames + 1 {
		g.Image = append(g.Image, solidFrame(0, 0, 1, 1, testPalette(), 1))
		g.Delay = append(g.Delay, 1)
	}
	if _, err := Generate(context.Background(), bytes.NewReader(encodeGIF(t, g)), Request{1, 1, MethodCrop, true}, Limits{}); !errors.Is(err, ErrTooManyFrames) {
		t.Fatalf("default limit: got %v, want ErrTooManyFrames", err)
	}
}

func TestTooLarge(t *testing.T) {
	data := encodePNG(t, photo(64, 64))
	lim := Limits{MaxInputBytes: int64(len(data)) - 1}
	if _, err := Generate(context.Background(), bytes.NewReader(data), Request{8, 8, MethodScale, false}, lim); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
	lim.MaxInputBytes++
	generate(t, data, Request{8, 8, MethodScale, false}, lim)
}

// TestAnimatedFallsBackToStill: past MaxAnimatedPixels an animated request
// gets a still of the first frame rather than an error.
func TestAnimatedFallsBackToStill(t *testing.T) {
	data := animatedGIF(t, 40, 40, 5) // 5 frames + canvas = 9600 pixels
	res := generate(t, data, Request{20, 20, MethodScale, true}, Limits{MaxAnimatedPixels: 9599})
	img := checkResult(t, res, ContentTypePNG, 20, 20)
	if res.Animated || !near(img.At(10, 10), color.RGBA{255, 0, 0, 255}, 0) {
		t.Fatalf("Animated=%v, pixel %v; want a red still", res.Animated, img.At(10, 10))
	}
	res = generate(t, data, Request{20, 20, MethodScale, true}, Limits{MaxAnimatedPixels: 9600})
	if !res.Animated || res.ContentType != ContentTypeGIF {
		t.Fatalf("at the limit: Animated=%v %s, want an animated GIF", res.Animated, res.ContentType)
	}
}

func TestLimitsValidate(t *testing.T) {
	if err := (Limits{}).Validate(); err != nil {
		t.Fatalf("zero Limits: %v", err)
	}
	if err := DefaultLimits().Validate(); err != nil {
		t.Fatalf("DefaultLimits: %v", err)
	}
	err := Limits{MaxInputBytes: -1, MaxPixels: -1, MaxFrames: -1, MaxAnimatedPixels: -1, MaxSide: -1, JPEGQuality: 101}.Validate()
	if err == nil {
		t.Fatal("negative limits accepted")
	}
	if n := len(err.(interface{ Unwrap() []error }).Unwrap()); n != 6 {
		t.Fatalf("%d problems reported, want 6: %v", n, err)
	}
	if d := DefaultLimits(); d.MaxPixels != DefaultMaxPixels || d.MaxFrames != DefaultMaxFrames || d.JPEGQuality != DefaultJPEGQuality {
		t.Fatalf("DefaultLimits = %+v", d)
	}
}

// TestWalkGIF compares the block walk with the decoder on real GIFs.
func TestWalkGIF(t *testing.T) {
	for _, n := range []int{1, 2, 7} {
		data := animatedGIF(t, 30, 20, n)
		frames, pixels, err := walkGIF(data, 100)
		if err != nil {
			t.Fatal(err)
		}
		g, err := gif.DecodeAll(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if frames != len(g.Image) || pixels != int64(n*30*20) {
			t.Fatalf("walk: %d frames, %d pixels; decoder: %d frames of 30x20", frames, pixels, len(g.Image))
		}
	}
	// A frame smaller than the canvas counts its own area.
	g := &gif.GIF{Image: []*image.Paletted{solidFrame(0, 0, 10, 10, testPalette(), 0), solidFrame(2, 3, 4, 5, testPalette(), 1)}, Delay: []int{1, 1}}
	if frames, pixels, err := walkGIF(encodeGIF(t, g), 100); err != nil || frames != 2 || pixels != 100+20 {
		t.Fatalf("walk: %d frames, %d pixels, %v; want 2, 120", frames, pixels, err)
	}
}
