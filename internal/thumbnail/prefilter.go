package thumbnail

import (
	"image"
	"image/color"
)

// boxReduce shrinks the region r of img by averaging k×k blocks of pixels
// (partial blocks at the right and bottom edges average what they hold)
// into a new premultiplied RGBA image. Every source pixel is read once,
// so a large downscale costs one pass over the source; the interpolator
// then works on an image only about twice the size of the thumbnail,
// without the aliasing of sampling a few source pixels per output pixel.
func boxReduce(img image.Image, r image.Rectangle, k int) *image.RGBA {
	w, h := (r.Dx()+k-1)/k, (r.Dy()+k-1)/k
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	sums := make([][4]uint32, w)
	row := make([][4]uint8, r.Dx())
	for oy := 0; oy < h; oy++ {
		clear(sums)
		y0, y1 := r.Min.Y+oy*k, min(r.Min.Y+(oy+1)*k, r.Max.Y)
		ycc := false
		for y := y0; y < y1; y++ {
			ycc = readRow(img, r.Min.X, y, row)
			for ox := range sums {
				var s0, s1, s2, s3 uint32
				for _, p := range row[ox*k : min((ox+1)*k, len(row))] {
					s0 += uint32(p[0])
					s1 += uint32(p[1])
					s2 += uint32(p[2])
					s3 += uint32(p[3])
				}
				s := &sums[ox]
				s[0] += s0
				s[1] += s1
				s[2] += s2
				s[3] += s3
			}
		}
		for ox, s := range sums {
			n := uint32((min((ox+1)*k, r.Dx()) - ox*k) * (y1 - y0))
			d := out.Pix[out.PixOffset(ox, oy):]
			for c := range 4 {
				d[c] = uint8((s[c] + n/2) / n)
			}
			if ycc {
				// Y'CbCr to RGB is affine (up to clamping): converting
				// the average is averaging the converted pixels.
				d[0], d[1], d[2] = color.YCbCrToRGB(d[0], d[1], d[2])
			}
		}
	}
	return out
}

// readRow fills row with the pixels x0.. of line y: premultiplied RGBA, or
// Y', Cb, Cr, 255 for an opaque *image.YCbCr (then it returns true). The
// types the four decoders return most have fast paths.
func readRow(img image.Image, x0, y int, row [][4]uint8) (ycc bool) {
	switch m := img.(type) {
	case *image.RGBA:
		src := m.Pix[m.PixOffset(x0, y):]
		for i := range row {
			row[i] = [4]uint8(src[4*i : 4*i+4])
		}
	case *image.NRGBA:
		src := m.Pix[m.PixOffset(x0, y):]
		for i := range row {
			p := src[4*i : 4*i+4]
			a := uint32(p[3])
			row[i] = [4]uint8{uint8(uint32(p[0]) * a / 255), uint8(uint32(p[1]) * a / 255), uint8(uint32(p[2]) * a / 255), p[3]}
		}
	case *image.YCbCr:
		hs, vs, ok := chromaShifts(m.SubsampleRatio)
		if !ok {
			return readRowAny(img, x0, y, row)
		}
		ys := m.Y[m.YOffset(x0, y):]
		cs := (y>>vs - m.Rect.Min.Y>>vs) * m.CStride
		cb, cr := m.Cb[cs:], m.Cr[cs:]
		cmin := m.Rect.Min.X >> hs
		for i := range row {
			c := (x0+i)>>hs - cmin
			row[i] = [4]uint8{ys[i], cb[c], cr[c], 255}
		}
		return true
	case *image.Gray:
		src := m.Pix[m.PixOffset(x0, y):]
		for i := range row {
			v := src[i]
			row[i] = [4]uint8{v, v, v, 255}
		}
	default:
		return readRowAny(img, x0, y, row)
	}
	return false
}

// readRowAny is readRow for any image, through its colour model.
func readRowAny(img image.Image, x0, y int, row [][4]uint8) bool {
	for i := range row {
		r, g, b, a := img.At(x0+i, y).RGBA()
		row[i] = [4]uint8{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), uint8(a >> 8)}
	}
	return false
}

// chromaShifts gives the horizontal and vertical chroma subsampling of a
// ratio as shifts.
func chromaShifts(r image.YCbCrSubsampleRatio) (h, v uint, ok bool) {
	switch r {
	case image.YCbCrSubsampleRatio444:
		return 0, 0, true
	case image.YCbCrSubsampleRatio422:
		return 1, 0, true
	case image.YCbCrSubsampleRatio420:
		return 1, 1, true
	case image.YCbCrSubsampleRatio440:
		return 0, 1, true
	case image.YCbCrSubsampleRatio411:
		return 2, 0, true
	case image.YCbCrSubsampleRatio410:
		return 2, 1, true
	}
	return 0, 0, false
}
