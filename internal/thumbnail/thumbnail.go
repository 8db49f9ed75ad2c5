// Package thumbnail makes Matrix media thumbnails from PNG, JPEG, GIF and
// WebP images, decoded in pure Go only: no other format is ever sniffed,
// decoded or handed to an external program (Synapse's CVE-2024-53863).
//
// Every limit is checked from the headers BEFORE any pixel is decoded
// (matrix-media-repo's CVE-2021-29453): the input size, the pixel count of
// the canvas, the number of GIF frames and the pixels summed over them.
//
// Outputs: a still thumbnail is PNG (ContentTypePNG) when it has any
// transparent pixel or comes from a GIF, JPEG (ContentTypeJPEG, quality
// Limits.JPEGQuality) otherwise. An animated GIF asked for with
// Request.Animated gives an animated GIF (ContentTypeGIF): every frame is
// composed as a viewer shows it, scaled, and mapped back onto its own
// palette. WebP is never an output: no pure-Go WebP encoder exists, and
// animated WebP input is refused (ErrUnsupportedFormat) because
// golang.org/x/image/webp cannot decode it.
//
// Nothing is ever upscaled. Large reductions average blocks of source
// pixels first and finish with Catmull-Rom (see resample).
//
// Memory: one call holds the input, the decoded image (1.5 bytes a pixel
// for a common JPEG, 4 for PNG or WebP, 8 for 16-bit PNG; more while a
// progressive JPEG decodes) and small buffers; an animated thumbnail holds
// every frame (1 byte a pixel) and a 4-byte canvas. The caller bounds how
// many calls run at once.
//
// The package is a leaf: it knows nothing of HTTP, storage or scanning. The
// caller decides that media may be thumbnailed (its verdict is clean), picks
// the size to generate with Pick, calls Generate, and caches or serves the
// Result; when Result.UseOriginal is set it serves the original instead.
package thumbnail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"io"
)

// Errors of Generate, wrapped with detail; check them with errors.Is. The
// HTTP status each suggests is noted; the HTTP layer owns the mapping.
var (
	// ErrBadRequest means the Request is invalid: width or height outside
	// 1..Limits.MaxSide, or a method other than crop or scale.
	// HTTP 400 M_INVALID_PARAM.
	ErrBadRequest = errors.New("thumbnail: bad request")
	// ErrUnsupportedFormat means the bytes are not PNG, JPEG, GIF or WebP
	// (whatever the declared content type says). HTTP 400 M_UNKNOWN
	// ("cannot generate a thumbnail for this media").
	ErrUnsupportedFormat = errors.New("thumbnail: unsupported image format")
	// ErrTooLarge means the input has more bytes than Limits.MaxInputBytes.
	// HTTP 413 M_TOO_LARGE.
	ErrTooLarge = errors.New("thumbnail: input too large")
	// ErrTooManyPixels means the image's header claims more pixels than
	// Limits.MaxPixels. Nothing was decoded. HTTP 413 M_TOO_LARGE.
	ErrTooManyPixels = errors.New("thumbnail: too many pixels")
	// ErrTooManyFrames means a GIF has more frames than Limits.MaxFrames.
	// Nothing was decoded. HTTP 413 M_TOO_LARGE.
	ErrTooManyFrames = errors.New("thumbnail: too many frames")
	// ErrTooManyScans is a JPEG with more scans than Limits.MaxJPEGScans
	// (a progressive-JPEG CPU bomb). It wraps ErrTooManyFrames: a scan is
	// a pass over the whole image, as a frame is.
	ErrTooManyScans = fmt.Errorf("%w: too many JPEG scans", ErrTooManyFrames)
	// ErrCorrupt means the image is truncated or malformed: its header or
	// its pixels could not be decoded. HTTP 400 M_UNKNOWN.
	ErrCorrupt = errors.New("thumbnail: corrupt image")
)

// Method is how the image is fitted to the requested box.
type Method string

// The two methods of the Matrix specification.
const (
	// MethodCrop fills the whole box: the image is scaled so that it covers
	// the box, then cropped around its centre.
	MethodCrop Method = "crop"
	// MethodScale fits the image inside the box, keeping its aspect ratio;
	// one side of the result may be shorter than the box.
	MethodScale Method = "scale"
)

// Content types of the results.
const (
	// ContentTypePNG is the type of still thumbnails with transparency and
	// of still thumbnails of GIFs.
	ContentTypePNG = "image/png"
	// ContentTypeJPEG is the type of opaque still thumbnails.
	ContentTypeJPEG = "image/jpeg"
	// ContentTypeGIF is the type of animated thumbnails.
	ContentTypeGIF = "image/gif"
)

// Request is what a client asked for. The HTTP layer fills it from the
// query (the spec's default method is scale; an empty Method is invalid
// here so that a cache key never has two spellings of one request).
type Request struct {
	// Width and Height are the box in pixels, each 1..Limits.MaxSide.
	Width, Height int
	// Method is MethodCrop or MethodScale.
	Method Method
	// Animated asks for an animated thumbnail where the input is animated.
	// When false the result is never animated (the spec's MUST NOT).
	Animated bool
}

// Validate returns an error wrapping ErrBadRequest when the request cannot
// be served under lim.
func (r Request) Validate(lim Limits) error {
	lim = lim.withDefaults()
	var errs []error
	if r.Width < 1 || r.Width > lim.MaxSide {
		errs = append(errs, fmt.Errorf("%w: width %d outside 1..%d", ErrBadRequest, r.Width, lim.MaxSide))
	}
	if r.Height < 1 || r.Height > lim.MaxSide {
		errs = append(errs, fmt.Errorf("%w: height %d outside 1..%d", ErrBadRequest, r.Height, lim.MaxSide))
	}
	if r.Method != MethodCrop && r.Method != MethodScale {
		errs = append(errs, fmt.Errorf("%w: method %q is neither crop nor scale", ErrBadRequest, r.Method))
	}
	return errors.Join(errs...)
}

// Result is a generated thumbnail, or the instruction to serve the original.
type Result struct {
	// UseOriginal is set when the original already fits the request (the
	// spec's "the original returned where it is smaller"): the caller
	// serves the original bytes with their own content type, and Data is
	// nil. It is never set for an animated original when the request was
	// not Animated.
	UseOriginal bool
	// Data is the encoded thumbnail (nil when UseOriginal).
	Data []byte
	// ContentType is ContentTypePNG, ContentTypeJPEG or ContentTypeGIF
	// (empty when UseOriginal).
	ContentType string
	// Width and Height are the dimensions of Data, or of the original as
	// displayed (after EXIF orientation) when UseOriginal.
	Width, Height int
	// Animated is set when Data is an animated GIF.
	Animated bool
	// Format is the sniffed input format: "png", "jpeg", "gif" or "webp".
	Format string
}

// Generate reads one image from r and makes the thumbnail req asks for.
// It reads at most lim.MaxInputBytes+1 bytes, sniffs the format from the
// bytes, checks every limit from the headers, and only then decodes.
// Errors wrap ErrBadRequest, ErrTooLarge, ErrUnsupportedFormat,
// ErrTooManyPixels, ErrTooManyFrames or ErrCorrupt, or are ctx's error or
// r's read error. It runs at most lim.Timeout; cancelling ctx (or the
// timeout) stops Generate between stages, between GIF frames, and inside a
// still image's decoding at its next read of the input. Zero fields of
// lim take their defaults (DefaultLimits).
func Generate(ctx context.Context, r io.Reader, req Request, lim Limits) (Result, error) {
	lim = lim.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, lim.Timeout)
	defer cancel()
	if err := req.Validate(lim); err != nil {
		return Result{}, err
	}
	data, err := readBounded(r, lim.MaxInputBytes)
	if err != nil {
		return Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	src, err := inspect(data, lim)
	if err != nil {
		return Result{}, err
	}
	animated := req.Animated && src.frames > 1
	p := planFor(src.displayWidth(), src.displayHeight(), req)
	if p.useOriginal && (src.frames <= 1 || animated) {
		return Result{UseOriginal: true, Width: src.displayWidth(), Height: src.displayHeight(), Format: src.format}, nil
	}
	if animated && src.framePixels > lim.MaxAnimatedPixels {
		// Too much to decode every frame: the spec lets the server fall
		// back to a still thumbnail ("if possible").
		animated = false
	}
	if p.useOriginal {
		// A still of an animated original that already fits: no scaling.
		p = plan{outW: src.displayWidth(), outH: src.displayHeight(), cropW: src.displayWidth(), cropH: src.displayHeight()}
	}
	if animated {
		res, err := animatedThumbnail(ctx, data, src, p)
		if !errors.Is(err, ErrCorrupt) {
			return res, err
		}
		// A GIF broken after its first frame still has a still, as a
		// viewer would show it; stillThumbnail fails if it has none.
	}
	return stillThumbnail(ctx, data, src, p, lim)
}

// readBounded reads all of r, failing with ErrTooLarge past max bytes.
func readBounded(r io.Reader, max int64) ([]byte, error) {
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("thumbnail: reading input: %w", err)
	}
	if n > max {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, max)
	}
	return buf.Bytes(), nil
}

// stillThumbnail decodes the first (or only) image and scales it.
func stillThumbnail(ctx context.Context, data []byte, src source, p plan, lim Limits) (Result, error) {
	img, err := decodeFirst(ctx, data, src.format)
	if err != nil {
		return Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	if f, ok := img.(*image.Paletted); ok && src.format == formatGIF && f.Bounds() != image.Rect(0, 0, src.width, src.height) {
		// A GIF's first frame may cover only part of its canvas.
		canvas := image.NewRGBA(image.Rect(0, 0, src.width, src.height))
		drawPaletted(canvas, f)
		img = canvas
	}
	if got := img.Bounds(); got.Dx() != src.width || got.Dy() != src.height {
		// The decoders check this themselves; refuse rather than trust it.
		return Result{}, fmt.Errorf("%w: decoded %v, header said %dx%d", ErrCorrupt, got.Size(), src.width, src.height)
	}
	thumb := orient(resample(img, p, src.orientation), src.orientation)
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	out, ct, err := encodeStill(thumb, src.format, lim.JPEGQuality)
	if err != nil {
		return Result{}, err
	}
	b := thumb.Bounds()
	return Result{Data: out, ContentType: ct, Width: b.Dx(), Height: b.Dy(), Format: src.format}, nil
}
