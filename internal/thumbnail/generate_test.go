package thumbnail

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"os"
	"testing"
	"time"
)

func generate(t testing.TB, data []byte, req Request, lim Limits) Result {
	t.Helper()
	res, err := Generate(context.Background(), bytes.NewReader(data), req, lim)
	if err != nil {
		t.Fatalf("Generate(%+v): %v", req, err)
	}
	return res
}

// checkResult decodes res.Data and checks its type and size against res.
func checkResult(t *testing.T, res Result, wantType string, w, h int) image.Image {
	t.Helper()
	if res.UseOriginal {
		t.Fatalf("UseOriginal set, want a %s thumbnail", wantType)
	}
	if res.ContentType != wantType || res.Width != w || res.Height != h {
		t.Fatalf("got %s %dx%d, want %s %dx%d", res.ContentType, res.Width, res.Height, wantType, w, h)
	}
	img := decodeAny(t, res.Data)
	if got := img.Bounds().Size(); got != image.Pt(w, h) {
		t.Fatalf("encoded thumbnail is %v, Result says %dx%d", got, w, h)
	}
	return img
}

func TestGenerateFormats(t *testing.T) {
	readFile := func(name string) []byte {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	staticGIF := encodeGIF(t, &gif.GIF{Image: []*image.Paletted{solidFrame(0, 0, 64, 48, testPalette(), 2)}, Delay: []int{0}})
	tests := []struct {
		name, format, wantType string
		data                   []byte
		req                    Request
		w, h                   int
	}{
		{"png with alpha, scale", "png", ContentTypePNG, encodePNG(t, gradient(64, 48, true)), Request{32, 32, MethodScale, false}, 32, 24},
		{"opaque png, scale", "png", ContentTypeJPEG, encodePNG(t, gradient(64, 48, false)), Request{32, 32, MethodScale, false}, 32, 24},
		{"png with alpha, crop", "png", ContentTypePNG, encodePNG(t, gradient(64, 48, true)), Request{32, 32, MethodCrop, false}, 32, 32},
		{"jpeg, crop", "jpeg", ContentTypeJPEG, encodeJPEG(t, photo(640, 480)), Request{96, 96, MethodCrop, false}, 96, 96},
		{"jpeg, scale", "jpeg", ContentTypeJPEG, encodeJPEG(t, photo(640, 480)), Request{320, 320, MethodScale, false}, 320, 240},
		{"jpeg, scale tall box", "jpeg", ContentTypeJPEG, encodeJPEG(t, photo(640, 480)), Request{100, 400, MethodScale, false}, 100, 75},
		{"static gif", "gif", ContentTypePNG, staticGIF, Request{16, 16, MethodCrop, true}, 16, 16},
		{"webp lossless with alpha", "webp", ContentTypePNG, readFile("gradient-lossless.webp"), Request{32, 32, MethodScale, false}, 32, 24},
		{"webp lossy", "webp", ContentTypeJPEG, readFile("gradient-lossy.webp"), Request{32, 24, MethodCrop, false}, 32, 24},
		{"webp lossy with alpha", "webp", ContentTypePNG, readFile("gradient-alpha.webp"), Request{16, 16, MethodScale, false}, 16, 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := generate(t, tt.data, tt.req, Limits{})
			if res.Format != tt.format {
				t.Errorf("Format = %q, want %q", res.Format, tt.format)
			}
			checkResult(t, res, tt.wantType, tt.w, tt.h)
		})
	}
}

// TestGenerateContent checks that the pixels survive: the scaled gradient
// keeps its colours, and its transparent quarter stays transparent.
func TestGenerateContent(t *testing.T) {
	for _, name := range []string{"png", "gradient-lossless.webp", "gradient-alpha.webp"} {
		t.Run(name, func(t *testing.T) {
			data := encodePNG(t, gradient(64, 48, true))
			if name != "png" {
				var err error
				if data, err = os.ReadFile("testdata/" + name); err != nil {
					t.Fatal(err)
				}
			}
			img := checkResult(t, generate(t, data, Request{32, 24, MethodScale, false}, Limits{}), ContentTypePNG, 32, 24)
			// Thumbnail pixel (x, y) covers source (2x..2x+1, 2y..2y+1).
			want := color.NRGBA{uint8(4*2*4 + 2), uint8(5*2*4 + 2), 200, 255}
			if got := img.At(4, 4); !near(got, want, 12) {
				t.Errorf("opaque pixel (4,4) = %v, want about %v", got, want)
			}
			if _, _, _, a := img.At(28, 20).RGBA(); a != 0 {
				t.Errorf("pixel (28,20) has alpha %d, want transparent", a>>8)
			}
		})
	}
}

func TestUseOriginal(t *testing.T) {
	small := encodeJPEG(t, photo(200, 100))
	tests := []struct {
		name string
		data []byte
		req  Request
		want bool
		w, h int
	}{
		{"fits the scale box", small, Request{320, 240, MethodScale, false}, true, 200, 100},
		{"fits exactly", small, Request{200, 100, MethodCrop, false}, true, 200, 100},
		{"fits the crop box", small, Request{800, 600, MethodCrop, false}, true, 200, 100},
		{"wider than the box", small, Request{100, 600, MethodScale, false}, false, 100, 50},
		// Crop without upscaling: the height fits, the width is cropped.
		{"crop higher than the image", small, Request{96, 400, MethodCrop, false}, false, 96, 100},
		// 100×200 as displayed: fits 150×250 only after orientation.
		{"rotated by exif fits", withEXIF(small, 6, binary.BigEndian), Request{150, 250, MethodScale, false}, true, 100, 200},
		{"rotated by exif does not fit", withEXIF(small, 6, binary.BigEndian), Request{250, 150, MethodScale, false}, false, 75, 150},
		{"animated gif, animated wanted", animatedGIF(t, 40, 30, 3), Request{96, 96, MethodCrop, true}, true, 40, 30},
		{"single-frame gif, still wanted", animatedGIF(t, 40, 30, 1), Request{96, 96, MethodCrop, false}, true, 40, 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := generate(t, tt.data, tt.req, Limits{})
			if res.UseOriginal != tt.want || res.Width != tt.w || res.Height != tt.h {
				t.Fatalf("UseOriginal %v %dx%d, want %v %dx%d", res.UseOriginal, res.Width, res.Height, tt.want, tt.w, tt.h)
			}
			if res.UseOriginal && (res.Data != nil || res.ContentType != "") {
				t.Fatalf("UseOriginal with %d bytes of %q", len(res.Data), res.ContentType)
			}
			if !res.UseOriginal {
				checkResult(t, res, ContentTypeJPEG, tt.w, tt.h)
			}
		})
	}
	t.Run("animated gif, still wanted", func(t *testing.T) {
		// The spec forbids an animated answer to animated=false, so the
		// original may not be used: a still PNG at the original size.
		res := generate(t, animatedGIF(t, 40, 30, 3), Request{96, 96, MethodCrop, false}, Limits{})
		img := checkResult(t, res, ContentTypePNG, 40, 30)
		if !near(img.At(20, 15), color.RGBA{255, 0, 0, 255}, 0) {
			t.Errorf("still is %v, want the first (red) frame", img.At(20, 15))
		}
	})
}

// TestOrientation checks all eight EXIF orientations in both byte orders:
// the stored image has red top-left and green top-right quadrants; the
// table says where they must appear once displayed.
func TestOrientation(t *testing.T) {
	red, green := color.RGBA{255, 0, 0, 255}, color.RGBA{0, 255, 0, 255}
	type corner int
	const (
		tl corner = iota
		tr
		bl
		br
	)
	tests := []struct {
		orientation uint16
		red, green  corner
	}{
		{1, tl, tr}, {2, tr, tl}, {3, br, bl}, {4, bl, br},
		{5, tl, bl}, {6, tr, br}, {7, br, tr}, {8, bl, tl},
	}
	stored := encodeJPEG(t, corners(400, 200))
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%v/%d", order, tt.orientation), func(t *testing.T) {
				res := generate(t, withEXIF(stored, tt.orientation, order), Request{100, 100, MethodScale, false}, Limits{})
				w, h := 100, 50
				if tt.orientation >= 5 {
					w, h = 50, 100
				}
				img := checkResult(t, res, ContentTypeJPEG, w, h)
				at := func(c corner) color.Color {
					x, y := w/4, h/4
					if c == tr || c == br {
						x = w - 1 - w/4
					}
					if c == bl || c == br {
						y = h - 1 - h/4
					}
					return img.At(x, y)
				}
				if !near(at(tt.red), red, 40) || !near(at(tt.green), green, 40) {
					t.Errorf("red corner %v holds %v, green corner %v holds %v", tt.red, at(tt.red), tt.green, at(tt.green))
				}
			})
		}
	}
}

func TestBadRequest(t *testing.T) {
	data := encodePNG(t, gradient(8, 8, false))
	for _, req := range []Request{
		{0, 10, MethodScale, false}, {10, -1, MethodCrop, false}, {10, 10, "", false},
		{10, 10, "fit", false}, {DefaultMaxSide + 1, 10, MethodScale, false},
	} {
		if _, err := Generate(context.Background(), bytes.NewReader(data), req, Limits{}); !errors.Is(err, ErrBadRequest) {
			t.Errorf("Generate(%+v) = %v, want ErrBadRequest", req, err)
		}
	}
	if _, err := Generate(context.Background(), bytes.NewReader(data), Request{3000, 10, MethodScale, false}, Limits{MaxSide: 4000}); err != nil {
		t.Errorf("MaxSide 4000 refused width 3000: %v", err)
	}
}

// TestBrokenInput feeds garbage and truncated images of every format.
func TestBrokenInput(t *testing.T) {
	jpg := encodeJPEG(t, photo(64, 48))
	pngData := encodePNG(t, gradient(64, 48, true))
	gifData := animatedGIF(t, 64, 48, 3)
	webpData, err := os.ReadFile("testdata/gradient-lossy.webp")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrUnsupportedFormat},
		{"text", []byte("hello, this is not an image"), ErrUnsupportedFormat},
		{"pdf", []byte("%PDF-1.7\n1 0 obj"), ErrUnsupportedFormat},
		{"bmp", append([]byte("BM"), make([]byte, 64)...), ErrUnsupportedFormat},
		{"svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`), ErrUnsupportedFormat},
		{"animated webp", append([]byte("RIFF\x20\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x02"), make([]byte, 16)...), ErrUnsupportedFormat},
		{"jpeg magic only", []byte{0xff, 0xd8}, ErrCorrupt},
		{"png magic only", []byte("\x89PNG\r\n\x1a\n"), ErrCorrupt},
		{"gif magic only", []byte("GIF89a"), ErrCorrupt},
		{"truncated jpeg", jpg[:len(jpg)/2], ErrCorrupt},
		{"truncated png", pngData[:len(pngData)-30], ErrCorrupt},
		{"gif truncated in its first frame", gifData[:40], ErrCorrupt},
		{"truncated webp", webpData[:len(webpData)-40], ErrCorrupt},
		{"png with garbage pixels", append(append([]byte{}, pngData[:33]...), bytes.Repeat([]byte{0xa5}, 200)...), ErrCorrupt},
		{"gif with an unknown block", append(append([]byte{}, gifData[:len(gifData)-1]...), 0x99), ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, animated := range []bool{false, true} {
				_, err := Generate(context.Background(), bytes.NewReader(tt.data), Request{16, 16, MethodCrop, animated}, Limits{})
				if !errors.Is(err, tt.want) {
					t.Fatalf("animated=%v: got %v, want %v", animated, err, tt.want)
				}
			}
		})
	}
}

// TestTruncatedGIF: a GIF cut after its first frame gives a still of that
// frame (as a viewer would show it), animated or not.
func TestTruncatedGIF(t *testing.T) {
	data := animatedGIF(t, 64, 48, 3)
	cut := bytes.Index(data[40:], []byte{0x21, 0xf9}) // the second frame's control extension
	if cut < 0 {
		t.Fatal("no second frame in the test GIF")
	}
	for _, animated := range []bool{false, true} {
		res := generate(t, data[:40+cut+5], Request{32, 32, MethodScale, animated}, Limits{})
		img := checkResult(t, res, ContentTypePNG, 32, 24)
		if res.Animated || !near(img.At(5, 5), color.RGBA{255, 0, 0, 255}, 0) {
			t.Errorf("animated=%v: got Animated=%v, pixel %v; want a red still", animated, res.Animated, img.At(5, 5))
		}
	}
}

func TestCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Generate(ctx, bytes.NewReader(encodePNG(t, gradient(64, 48, false))), Request{8, 8, MethodCrop, false}, Limits{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func TestReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	_, err := Generate(context.Background(), &failingReader{err: boom}, Request{8, 8, MethodCrop, false}, Limits{})
	if !errors.Is(err, boom) {
		t.Fatalf("got %v, want the reader's error", err)
	}
}

type failingReader struct{ err error }

func (r *failingReader) Read([]byte) (int, error) { return 0, r.err }

// Test12MPJPEG thumbnails a 4000×3000 JPEG to every recommended size.
func Test12MPJPEG(t *testing.T) {
	data := encodeJPEG(t, photo(4000, 3000))
	for _, s := range RecommendedSizes() {
		t.Run(fmt.Sprintf("%s-%dx%d", s.Method, s.Width, s.Height), func(t *testing.T) {
			w, h := s.Width, s.Height
			if s.Method == MethodScale {
				h = w * 3 / 4
			}
			// The test checks the output, not the deadline: a CPU-starved
			// machine (parallel test packages, CI) may need more than
			// DefaultTimeout for a 12 MP decode.
			checkResult(t, generate(t, data, s.Request(false), Limits{Timeout: 2 * time.Minute}), ContentTypeJPEG, w, h)
		})
	}
}
