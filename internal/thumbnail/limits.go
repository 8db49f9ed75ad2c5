package thumbnail

import (
	"errors"
	"fmt"
	"time"
)

// Defaults of Limits, used for every zero field.
const (
	// DefaultMaxInputBytes bounds the bytes read: 50 MiB.
	DefaultMaxInputBytes = 50 << 20
	// DefaultMaxPixels bounds width×height from the header: 32 megapixels
	// (Synapse's max_image_pixels). Decoding such an image takes 48 MB
	// (JPEG 4:2:0) to 256 MB (16-bit PNG), more for progressive JPEG.
	DefaultMaxPixels = 32_000_000
	// DefaultMaxFrames bounds the frames of a GIF.
	DefaultMaxFrames = 500
	// DefaultMaxAnimatedPixels bounds the work of an animated thumbnail:
	// the pixels of all GIF frames plus the canvas, 64 megapixels.
	DefaultMaxAnimatedPixels = 64_000_000
	// DefaultMaxSide bounds the requested width and height.
	DefaultMaxSide = 2048
	// DefaultJPEGQuality is the quality of JPEG thumbnails.
	DefaultJPEGQuality = 85
	// DefaultMaxJPEGScans bounds the scans (SOS segments) of a JPEG. A
	// progressive JPEG has about 10; every scan is a pass over all the
	// image's coefficients, so a file of tiny scans is a CPU bomb (75 KB
	// took 7-10 s to decode).
	DefaultMaxJPEGScans = 32
	// DefaultTimeout bounds one Generate call.
	DefaultTimeout = 10 * time.Second
)

// Limits bound what Generate accepts and does. A zero field takes its
// default (DefaultMaxInputBytes and the others), so Limits{} is usable.
type Limits struct {
	// MaxInputBytes refuses (ErrTooLarge) inputs longer than this.
	MaxInputBytes int64
	// MaxPixels refuses (ErrTooManyPixels) images whose header claims more
	// than this many pixels (width×height of the canvas), before decoding.
	MaxPixels int64
	// MaxFrames refuses (ErrTooManyFrames) GIFs with more frames, counted
	// by walking the GIF blocks without decoding any pixel.
	MaxFrames int
	// MaxAnimatedPixels bounds an animated thumbnail: when the pixels of
	// all frames plus the canvas exceed it, the thumbnail is a still of
	// the first frame instead (the spec's "animated if possible").
	MaxAnimatedPixels int64
	// MaxSide refuses (ErrBadRequest) requested widths or heights above it.
	MaxSide int
	// JPEGQuality is the quality (1..100) of JPEG thumbnails.
	JPEGQuality int
	// MaxJPEGScans refuses (ErrTooManyScans) JPEGs with more scans,
	// counted by walking the segments without decoding.
	MaxJPEGScans int
	// Timeout bounds one Generate call, decoding included.
	Timeout time.Duration
}

// DefaultLimits returns the limits Generate applies to a zero Limits.
func DefaultLimits() Limits {
	return Limits{}.withDefaults()
}

// Validate reports every field that is negative or out of range, joined.
// Zero fields are valid: they take their defaults.
func (l Limits) Validate() error {
	var errs []error
	if l.MaxInputBytes < 0 {
		errs = append(errs, fmt.Errorf("thumbnail: max input bytes %d is negative", l.MaxInputBytes))
	}
	if l.MaxPixels < 0 {
		errs = append(errs, fmt.Errorf("thumbnail: max pixels %d is negative", l.MaxPixels))
	}
	if l.MaxFrames < 0 {
		errs = append(errs, fmt.Errorf("thumbnail: max frames %d is negative", l.MaxFrames))
	}
	if l.MaxAnimatedPixels < 0 {
		errs = append(errs, fmt.Errorf("thumbnail: max animated pixels %d is negative", l.MaxAnimatedPixels))
	}
	if l.MaxSide < 0 {
		errs = append(errs, fmt.Errorf("thumbnail: max side %d is negative", l.MaxSide))
	}
	if l.JPEGQuality < 0 || l.JPEGQuality > 100 {
		errs = append(errs, fmt.Errorf("thumbnail: JPEG quality %d outside 1..100", l.JPEGQuality))
	}
	if l.MaxJPEGScans < 0 {
		errs = append(errs, fmt.Errorf("thumbnail: max JPEG scans %d is negative", l.MaxJPEGScans))
	}
	if l.Timeout < 0 {
		errs = append(errs, fmt.Errorf("thumbnail: timeout %s is negative", l.Timeout))
	}
	return errors.Join(errs...)
}

// withDefaults returns l with every zero (or negative) field defaulted.
func (l Limits) withDefaults() Limits {
	if l.MaxInputBytes <= 0 {
		l.MaxInputBytes = DefaultMaxInputBytes
	}
	if l.MaxPixels <= 0 {
		l.MaxPixels = DefaultMaxPixels
	}
	if l.MaxFrames <= 0 {
		l.MaxFrames = DefaultMaxFrames
	}
	if l.MaxAnimatedPixels <= 0 {
		l.MaxAnimatedPixels = DefaultMaxAnimatedPixels
	}
	if l.MaxSide <= 0 {
		l.MaxSide = DefaultMaxSide
	}
	if l.JPEGQuality <= 0 || l.JPEGQuality > 100 {
		l.JPEGQuality = DefaultJPEGQuality
	}
	if l.MaxJPEGScans <= 0 {
		l.MaxJPEGScans = DefaultMaxJPEGScans
	}
	if l.Timeout <= 0 {
		l.Timeout = DefaultTimeout
	}
	return l
}
