package thumbnail

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"
)

// gradient is the picture of testdata/*.webp: R = 4x, G = 5y, B = 200,
// transparent where x ≥ w/2 and y ≥ h/2 when withAlpha.
func gradient(w, h int, withAlpha bool) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.NRGBA{uint8(x * 4), uint8(y * 5), 200, 255}
			if withAlpha && x >= w/2 && y >= h/2 {
				c.A = 0
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

// photo is a w×h opaque picture with smooth areas and fine detail, so that
// JPEG sizes and decoding costs resemble a photograph's.
func photo(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := img.PixOffset(x, y)
			n := uint8((x*7 + y*13 + x*y) % 37)
			img.Pix[i] = uint8(x*255/w) + n
			img.Pix[i+1] = uint8(y*255/h) + n
			img.Pix[i+2] = uint8((x+y)%256) / 2
			img.Pix[i+3] = 255
		}
	}
	return img
}

// corners is a w×h picture in four solid quadrants: red top-left, green
// top-right, blue bottom-left, white bottom-right, used to check EXIF
// orientation after JPEG's losses.
func corners(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var c color.RGBA
			switch {
			case x < w/2 && y < h/2:
				c = color.RGBA{255, 0, 0, 255}
			case y < h/2:
				c = color.RGBA{0, 255, 0, 255}
			case x < w/2:
				c = color.RGBA{0, 0, 255, 255}
			default:
				c = color.RGBA{255, 255, 255, 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func encodeJPEG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// exifSegment builds an APP1 segment holding a TIFF structure whose IFD0
// has one entry before the orientation (so the parser must walk) and the
// orientation tag itself.
func exifSegment(orientation uint16, order binary.ByteOrder) []byte {
	tiff := make([]byte, 8+2+2*12+4)
	if order == binary.LittleEndian {
		copy(tiff, "II")
	} else {
		copy(tiff, "MM")
	}
	order.PutUint16(tiff[2:], 42)
	order.PutUint32(tiff[4:], 8)
	order.PutUint16(tiff[8:], 2)
	e := tiff[10:]
	order.PutUint16(e[0:], 0x010f) // Make, ASCII, 4 bytes inline
	order.PutUint16(e[2:], 2)
	order.PutUint32(e[4:], 4)
	copy(e[8:], "Go!\x00")
	e = tiff[22:]
	order.PutUint16(e[0:], 0x0112)
	order.PutUint16(e[2:], 3)
	order.PutUint32(e[4:], 1)
	order.PutUint16(e[8:], orientation)
	payload := append([]byte("Exif\x00\x00"), tiff...)
	seg := []byte{0xff, 0xe1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2))
	return append(seg, payload...)
}

// withEXIF inserts an EXIF APP1 segment right after the SOI of a JPEG.
func withEXIF(jpg []byte, orientation uint16, order binary.ByteOrder) []byte {
	out := append([]byte{}, jpg[:2]...)
	out = append(out, exifSegment(orientation, order)...)
	return append(out, jpg[2:]...)
}

// solidFrame is a w×h paletted frame at (x, y) filled with palette index i.
func solidFrame(x, y, w, h int, pal color.Palette, i uint8) *image.Paletted {
	f := image.NewPaletted(image.Rect(x, y, x+w, y+h), pal)
	for p := range f.Pix {
		f.Pix[p] = i
	}
	return f
}

// testPalette is red, green, blue, yellow, transparent.
func testPalette() color.Palette {
	return color.Palette{
		color.RGBA{255, 0, 0, 255}, color.RGBA{0, 255, 0, 255}, color.RGBA{0, 0, 255, 255},
		color.RGBA{255, 255, 0, 255}, color.RGBA{0, 0, 0, 0},
	}
}

// animatedGIF is an n-frame w×h GIF whose frame i is solid colour i%4,
// with delay 10+i.
func animatedGIF(t testing.TB, w, h, n int) []byte {
	t.Helper()
	g := &gif.GIF{}
	for i := 0; i < n; i++ {
		g.Image = append(g.Image, solidFrame(0, 0, w, h, testPalette(), uint8(i%4)))
		g.Delay = append(g.Delay, 10+i)
		g.Disposal = append(g.Disposal, gif.DisposalNone)
	}
	return encodeGIF(t, g)
}

func encodeGIF(t testing.TB, g *gif.GIF) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, g); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// pngHeader is a PNG signature and an IHDR claiming w×h RGBA pixels with a
// valid CRC, followed by a tiny IDAT and IEND: a pixel bomb when w×h is
// large.
func pngHeader(w, h uint32) []byte {
	chunk := func(typ string, data []byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
		b = append(b, typ...)
		b = append(b, data...)
		return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	}
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 6, 0, 0, 0) // 8-bit RGBA, no interlace
	out := []byte("\x89PNG\r\n\x1a\n")
	out = append(out, chunk("IHDR", ihdr)...)
	out = append(out, chunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})...)
	return append(out, chunk("IEND", nil)...)
}

// decodeAny decodes a thumbnail for inspection.
func decodeAny(t testing.TB, data []byte) image.Image {
	t.Helper()
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("decoding the thumbnail: %v", err)
	}
	return img
}

// near reports whether two colours differ by at most tol per channel.
func near(a, b color.Color, tol int) bool {
	ar, ag, ab, aa := a.RGBA()
	br, bg, bb, ba := b.RGBA()
	d := func(x, y uint32) bool {
		v := int(x>>8) - int(y>>8)
		return v <= tol && v >= -tol
	}
	return d(ar, br) && d(ag, bg) && d(ab, bb) && d(aa, ba)
}
