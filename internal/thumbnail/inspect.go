package thumbnail

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"

	"golang.org/x/image/webp"
)

// Input formats, as in Result.Format.
const (
	formatPNG  = "png"
	formatJPEG = "jpeg"
	formatGIF  = "gif"
	formatWebP = "webp"
)

// source is what the headers say about an input, before any decoding.
type source struct {
	format        string
	width, height int // as stored, before orientation
	orientation   int // EXIF orientation 1..8 (1 for all but JPEG)
	frames        int // GIF frames; 1 for other formats
	// framePixels is the pixels of all GIF frames plus the canvas.
	framePixels int64
}

// displayWidth is the width as displayed, after EXIF orientation.
func (s source) displayWidth() int {
	if transposes(s.orientation) {
		return s.height
	}
	return s.width
}

// displayHeight is the height as displayed, after EXIF orientation.
func (s source) displayHeight() int {
	if transposes(s.orientation) {
		return s.width
	}
	return s.height
}

// sniff names the format from the magic bytes. Only the four formats are
// known here: the image package's registry (which other imports may
// extend) is never consulted.
func sniff(data []byte) (string, error) {
	switch {
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		return formatPNG, nil
	case bytes.HasPrefix(data, []byte("\xff\xd8")):
		return formatJPEG, nil
	case bytes.HasPrefix(data, []byte("GIF87a")), bytes.HasPrefix(data, []byte("GIF89a")):
		return formatGIF, nil
	case len(data) >= 12 && string(data[0:4]) == "RIFF" && string(data[8:12]) == "WEBP":
		if len(data) >= 21 && string(data[12:16]) == "VP8X" && data[20]&0x02 != 0 {
			return "", fmt.Errorf("%w: animated WebP (not decodable in pure Go)", ErrUnsupportedFormat)
		}
		return formatWebP, nil
	}
	return "", ErrUnsupportedFormat
}

// inspect sniffs data and checks every limit from the headers alone.
func inspect(data []byte, lim Limits) (source, error) {
	format, err := sniff(data)
	if err != nil {
		return source{}, err
	}
	cfg, err := decodeConfig(data, format)
	if err != nil {
		return source{}, fmt.Errorf("%w: %s header: %w", ErrCorrupt, format, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return source{}, fmt.Errorf("%w: %s of %dx%d pixels", ErrCorrupt, format, cfg.Width, cfg.Height)
	}
	pixels := int64(cfg.Width) * int64(cfg.Height)
	if pixels > lim.MaxPixels {
		return source{}, fmt.Errorf("%w: %dx%d is more than %d pixels", ErrTooManyPixels, cfg.Width, cfg.Height, lim.MaxPixels)
	}
	src := source{format: format, width: cfg.Width, height: cfg.Height, orientation: 1, frames: 1, framePixels: pixels}
	switch format {
	case formatJPEG:
		if n := countJPEGScans(data, lim.MaxJPEGScans); n > lim.MaxJPEGScans {
			return source{}, fmt.Errorf("%w: more than %d", ErrTooManyScans, lim.MaxJPEGScans)
		}
		src.orientation = jpegOrientation(data)
	case formatGIF:
		frames, sum, err := walkGIF(data, lim.MaxFrames)
		if err != nil {
			return source{}, err
		}
		src.frames, src.framePixels = frames, sum+pixels
	}
	return src, nil
}

// decodeConfig reads the header of data in the given format.
func decodeConfig(data []byte, format string) (image.Config, error) {
	r := bytes.NewReader(data)
	switch format {
	case formatPNG:
		return png.DecodeConfig(r)
	case formatJPEG:
		return jpeg.DecodeConfig(r)
	case formatGIF:
		return gif.DecodeConfig(r)
	default:
		return webp.DecodeConfig(r)
	}
}

// decodeFirst decodes the image (the first frame of a GIF). The decoders
// cannot be cancelled; they read through ctxReader, so that ctx ends a
// decode at its next read.
func decodeFirst(ctx context.Context, data []byte, format string) (image.Image, error) {
	r := &ctxReader{ctx: ctx, r: bytes.NewReader(data)}
	var (
		img image.Image
		err error
	)
	switch format {
	case formatPNG:
		img, err = png.Decode(r)
	case formatJPEG:
		img, err = jpeg.Decode(r)
	case formatGIF:
		img, err = gif.Decode(r)
	default:
		img, err = webp.Decode(r)
	}
	if cerr := ctx.Err(); cerr != nil {
		return nil, cerr
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, format, err)
	}
	return img, nil
}

// ctxReader fails every read once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// countJPEGScans counts the SOS segments of a JPEG by walking its marker
// segments and skipping entropy-coded data, decoding nothing; it stops
// counting past max. A stream cut short is counted as far as it goes
// (the decoder judges it).
func countJPEGScans(data []byte, max int) int {
	scans := 0
	pos := 2 // after SOI
	for pos+4 <= len(data) && scans <= max {
		if data[pos] != 0xff {
			pos++ // entropy-coded data (or garbage): look for the next marker
			continue
		}
		marker := data[pos+1]
		switch {
		case marker == 0xff: // fill byte
			pos++
			continue
		case marker == 0x00 || marker >= 0xd0 && marker <= 0xd7 || marker == 0x01:
			pos += 2 // stuffed byte, restart marker, TEM: no length
			continue
		case marker == 0xd9: // EOI
			return scans
		}
		if marker == 0xda {
			scans++
		}
		pos += 2 + int(binary.BigEndian.Uint16(data[pos+2:]))
	}
	return scans
}

// walkGIF counts the frames of a GIF and sums their areas by walking its
// blocks, decoding no pixel. It fails with ErrTooManyFrames past max
// frames and with ErrCorrupt on an unknown block. A stream that ends
// without a trailer is counted as far as it goes (the decoder judges it).
func walkGIF(data []byte, max int) (frames int, pixels int64, err error) {
	const headerLen = 13 // "GIF89a" + logical screen descriptor
	if len(data) < headerLen {
		return 0, 0, fmt.Errorf("%w: gif header truncated", ErrCorrupt)
	}
	pos := headerLen
	if flags := data[10]; flags&0x80 != 0 {
		pos += 3 << (flags&0x07 + 1) // global colour table
	}
	for pos < len(data) {
		switch data[pos] {
		case 0x21: // extension: label, then data sub-blocks
			pos = skipSubBlocks(data, pos+2)
		case 0x2c: // image descriptor
			if pos+10 > len(data) {
				return frames, pixels, nil
			}
			frames++
			if frames > max {
				return 0, 0, fmt.Errorf("%w: more than %d frames", ErrTooManyFrames, max)
			}
			w := binary.LittleEndian.Uint16(data[pos+5:])
			h := binary.LittleEndian.Uint16(data[pos+7:])
			pixels += int64(w) * int64(h)
			flags := data[pos+9]
			pos += 10
			if flags&0x80 != 0 {
				pos += 3 << (flags&0x07 + 1) // local colour table
			}
			pos = skipSubBlocks(data, pos+1) // after the LZW minimum code size
		case 0x3b: // trailer
			return frames, pixels, nil
		default:
			return 0, 0, fmt.Errorf("%w: gif block 0x%02x at %d", ErrCorrupt, data[pos], pos)
		}
	}
	return frames, pixels, nil
}

// skipSubBlocks returns the position after the data sub-blocks starting at
// pos (a chain of length-prefixed blocks ended by a zero length), or
// len(data) when they run past the end.
func skipSubBlocks(data []byte, pos int) int {
	for pos < len(data) {
		n := int(data[pos])
		pos++
		if n == 0 {
			return pos
		}
		pos += n
	}
	return len(data)
}

// Info is what an image's headers say, checked against the limits.
type Info struct {
	// MediaType is image/png, image/jpeg, image/gif or image/webp.
	MediaType     string
	Width, Height int // as displayed (after EXIF orientation)
}

// Probe sniffs data and checks every limit of lim (pixels, frames) from
// the headers alone, decoding no pixel: the check a decompression bomb
// fails before anything is stored or decoded. Errors wrap
// ErrUnsupportedFormat, ErrCorrupt, ErrTooManyPixels or ErrTooManyFrames.
func Probe(data []byte, lim Limits) (Info, error) {
	src, err := inspect(data, lim.withDefaults())
	if err != nil {
		return Info{}, err
	}
	return Info{MediaType: "image/" + src.format, Width: src.displayWidth(), Height: src.displayHeight()}, nil
}
