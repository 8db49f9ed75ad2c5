package thumbnail

import (
	"encoding/binary"
	"image"
)

// jpegOrientation returns the EXIF orientation (1..8) of a JPEG, or 1 when
// it has none or the EXIF data is malformed. It walks the marker segments
// before the first scan and reads only the first APP1 "Exif" segment; every
// offset is bounds-checked, so any input is safe.
func jpegOrientation(data []byte) int {
	pos := 2 // after SOI
	for pos+4 <= len(data) {
		if data[pos] != 0xff {
			return 1
		}
		marker := data[pos+1]
		switch {
		case marker == 0xff: // fill byte
			pos++
			continue
		case marker == 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker == 0x01:
			pos += 2 // standalone markers
			continue
		case marker == 0xda || marker == 0xd9: // start of scan, end of image
			return 1
		}
		length := int(binary.BigEndian.Uint16(data[pos+2:]))
		if length < 2 || pos+2+length > len(data) {
			return 1
		}
		seg := data[pos+4 : pos+2+length]
		if marker == 0xe1 && len(seg) >= 6 && string(seg[:6]) == "Exif\x00\x00" {
			return exifOrientation(seg[6:])
		}
		pos += 2 + length
	}
	return 1
}

// exifOrientation reads tag 0x0112 from IFD0 of a TIFF structure.
func exifOrientation(tiff []byte) int {
	if len(tiff) < 8 {
		return 1
	}
	var order binary.ByteOrder
	switch string(tiff[:2]) {
	case "II":
		order = binary.LittleEndian
	case "MM":
		order = binary.BigEndian
	default:
		return 1
	}
	if order.Uint16(tiff[2:]) != 42 {
		return 1
	}
	ifd := int64(order.Uint32(tiff[4:]))
	if ifd < 8 || ifd+2 > int64(len(tiff)) {
		return 1
	}
	count := int64(order.Uint16(tiff[ifd:]))
	for i := int64(0); i < count; i++ {
		e := ifd + 2 + 12*i
		if e+12 > int64(len(tiff)) {
			return 1
		}
		const tagOrientation, typeShort = 0x0112, 3
		if order.Uint16(tiff[e:]) != tagOrientation {
			continue
		}
		if order.Uint16(tiff[e+2:]) != typeShort || order.Uint32(tiff[e+4:]) != 1 {
			return 1
		}
		if o := int(order.Uint16(tiff[e+8:])); o >= 1 && o <= 8 {
			return o
		}
		return 1
	}
	return 1
}

// transposes reports whether orientation o swaps width and height.
func transposes(o int) bool { return o >= 5 && o <= 8 }

// orient returns img as displayed under EXIF orientation o: for each
// displayed pixel it picks the stored pixel (2 mirrors, 3 turns 180°,
// 4 flips, 5 transposes, 6 turns 90° clockwise, 7 transverses, 8 turns
// 90° counter-clockwise).
func orient(img *image.RGBA, o int) *image.RGBA {
	if o <= 1 || o > 8 {
		return img
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	dw, dh := w, h
	if transposes(o) {
		dw, dh = h, w
	}
	out := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for dy := 0; dy < dh; dy++ {
		for dx := 0; dx < dw; dx++ {
			var sx, sy int
			switch o {
			case 2:
				sx, sy = w-1-dx, dy
			case 3:
				sx, sy = w-1-dx, h-1-dy
			case 4:
				sx, sy = dx, h-1-dy
			case 5:
				sx, sy = dy, dx
			case 6:
				sx, sy = dy, h-1-dx
			case 7:
				sx, sy = w-1-dy, h-1-dx
			case 8:
				sx, sy = w-1-dy, dx
			}
			si := img.PixOffset(b.Min.X+sx, b.Min.Y+sy)
			di := out.PixOffset(dx, dy)
			copy(out.Pix[di:di+4], img.Pix[si:si+4])
		}
	}
	return out
}
