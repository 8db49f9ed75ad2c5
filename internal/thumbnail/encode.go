package thumbnail

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
)

// encodeStill encodes a still thumbnail: PNG when it has any transparent
// pixel or comes from a GIF (flat colours, often line art), JPEG otherwise.
// WebP cannot be encoded in pure Go, so it is never an output.
func encodeStill(img *image.RGBA, format string, quality int) ([]byte, string, error) {
	var buf bytes.Buffer
	if format == formatGIF || !img.Opaque() {
		if err := png.Encode(&buf, img); err != nil {
			return nil, "", fmt.Errorf("thumbnail: encoding png: %w", err)
		}
		return buf.Bytes(), ContentTypePNG, nil
	}
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: quality}); err != nil {
		return nil, "", fmt.Errorf("thumbnail: encoding jpeg: %w", err)
	}
	return buf.Bytes(), ContentTypeJPEG, nil
}
