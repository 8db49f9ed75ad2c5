package thumbnail

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/gif"
)

// animatedThumbnail scales every frame of an animated GIF: each frame is
// composed onto the canvas as a viewer would (honouring the disposal
// methods), the canvas is scaled to the planned size, and the result is
// mapped back onto the frame's own palette (no dithering, which would
// flicker between frames). Every output frame covers the whole thumbnail
// and is disposed to the background, so transparency stays right. Delays
// and the loop count are kept.
func animatedThumbnail(ctx context.Context, data []byte, src source, p plan) (Result, error) {
	g, err := gif.DecodeAll(bytes.NewReader(data))
	if err != nil {
		return Result{}, fmt.Errorf("%w: gif: %w", ErrCorrupt, err)
	}
	canvas := image.NewRGBA(image.Rect(0, 0, src.width, src.height))
	out := &gif.GIF{
		Image:     make([]*image.Paletted, 0, len(g.Image)),
		Delay:     make([]int, 0, len(g.Image)),
		Disposal:  make([]byte, 0, len(g.Image)),
		LoopCount: g.LoopCount,
	}
	var q quantizer
	for i, frame := range g.Image {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		disposal := byte(0)
		if i < len(g.Disposal) {
			disposal = g.Disposal[i]
		}
		var saved *image.RGBA
		if disposal == gif.DisposalPrevious {
			saved = image.NewRGBA(frame.Bounds())
			copyRGBA(saved, canvas, frame.Bounds())
		}
		drawPaletted(canvas, frame)
		scaled := resample(canvas, p, 1)
		out.Image = append(out.Image, q.quantize(scaled, frame.Palette))
		out.Delay = append(out.Delay, g.Delay[i])
		out.Disposal = append(out.Disposal, gif.DisposalBackground)
		switch disposal {
		case gif.DisposalBackground:
			clearRect(canvas, frame.Bounds())
		case gif.DisposalPrevious:
			copyRGBA(canvas, saved, frame.Bounds())
		}
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, out); err != nil {
		return Result{}, fmt.Errorf("thumbnail: encoding gif: %w", err)
	}
	return Result{
		Data: buf.Bytes(), ContentType: ContentTypeGIF,
		Width: p.outW, Height: p.outH, Animated: true, Format: src.format,
	}, nil
}

// drawPaletted draws frame over canvas: transparent palette entries leave
// the canvas as it is (GIF colours are either opaque or transparent).
func drawPaletted(canvas *image.RGBA, frame *image.Paletted) {
	var pal [256][4]uint8
	for i, c := range frame.Palette {
		r, g, b, a := c.RGBA()
		pal[i] = [4]uint8{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), uint8(a >> 8)}
	}
	r := frame.Bounds().Intersect(canvas.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		si := frame.PixOffset(r.Min.X, y)
		di := canvas.PixOffset(r.Min.X, y)
		for x := r.Min.X; x < r.Max.X; x, si, di = x+1, si+1, di+4 {
			c := pal[frame.Pix[si]]
			if c[3] == 0 {
				continue
			}
			copy(canvas.Pix[di:di+4], c[:])
		}
	}
}

// copyRGBA copies rectangle r from src to dst (both hold r).
func copyRGBA(dst, src *image.RGBA, r image.Rectangle) {
	r = r.Intersect(dst.Bounds()).Intersect(src.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		copy(dst.Pix[dst.PixOffset(r.Min.X, y):dst.PixOffset(r.Max.X, y)], src.Pix[src.PixOffset(r.Min.X, y):])
	}
}

// clearRect makes rectangle r of img transparent.
func clearRect(img *image.RGBA, r image.Rectangle) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		clear(img.Pix[img.PixOffset(r.Min.X, y):img.PixOffset(r.Max.X, y)])
	}
}

// quantizer maps RGBA pixels onto a palette through a lazily filled table
// of 15-bit colours, kept while consecutive frames share one palette.
type quantizer struct {
	palette     color.Palette
	transparent int // index of a transparent entry, or -1
	table       [1 << 15]int16
}

// quantize returns img mapped onto pal (with a transparent entry added
// when pal has none and room for one). Pixels under half opacity become
// transparent, the others the nearest opaque entry.
func (q *quantizer) quantize(img *image.RGBA, pal color.Palette) *image.Paletted {
	if !samePalette(q.palette, pal) {
		q.reset(pal)
	}
	b := img.Bounds()
	out := image.NewPaletted(b, q.palette)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		si := img.PixOffset(b.Min.X, y)
		di := out.PixOffset(b.Min.X, y)
		for x := b.Min.X; x < b.Max.X; x, si, di = x+1, si+4, di+1 {
			a := uint32(img.Pix[si+3])
			if a < 128 && q.transparent >= 0 {
				out.Pix[di] = uint8(q.transparent)
				continue
			}
			r, g, bl := unpremultiply(img.Pix[si], a), unpremultiply(img.Pix[si+1], a), unpremultiply(img.Pix[si+2], a)
			key := r>>3<<10 | g>>3<<5 | bl>>3
			idx := q.table[key]
			if idx < 0 {
				idx = int16(q.nearest(r, g, bl))
				q.table[key] = idx
			}
			out.Pix[di] = uint8(idx)
		}
	}
	return out
}

// unpremultiply returns the straight colour channel of a premultiplied one.
func unpremultiply(c uint8, a uint32) uint32 {
	if a == 0 || a == 255 {
		return uint32(c)
	}
	return min(255, uint32(c)*255/a)
}

// reset starts a new palette: a copy of pal, the transparent entry found
// or added, the table emptied.
func (q *quantizer) reset(pal color.Palette) {
	q.palette = append(color.Palette(nil), pal...)
	q.transparent = -1
	for i, c := range q.palette {
		if _, _, _, a := c.RGBA(); a == 0 {
			q.transparent = i
			break
		}
	}
	if q.transparent < 0 && len(q.palette) < 256 {
		q.transparent = len(q.palette)
		q.palette = append(q.palette, color.RGBA{})
	}
	for i := range q.table {
		q.table[i] = -1
	}
}

// nearest is the index of the opaque palette entry closest to r, g, b.
func (q *quantizer) nearest(r, g, b uint32) int {
	best, bestDist := 0, uint32(1<<32-1)
	for i, c := range q.palette {
		pr, pg, pb, pa := c.RGBA()
		if pa == 0 {
			continue
		}
		dr, dg, db := sqDiff(r, pr>>8), sqDiff(g, pg>>8), sqDiff(b, pb>>8)
		if d := dr + dg + db; d < bestDist {
			best, bestDist = i, d
		}
	}
	return best
}

// sqDiff is (x-y)².
func sqDiff(x, y uint32) uint32 {
	d := int32(x) - int32(y)
	return uint32(d * d)
}

// samePalette reports whether two palettes hold the same colours.
func samePalette(a, b color.Palette) bool {
	if len(a) < len(b) || a == nil {
		return false
	}
	for i := range b {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
