package service

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"strings"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
	"golang.org/x/image/webp"

	"github.com/mediarepo/mediarepo/internal/media"
)

// A sniffed type is a match of a few magic bytes (filetype): "BM" is
// image/bmp, FF D8 FF is image/jpeg. Ciphertext starts with such bytes
// once in 2^16 to 2^32 tries, and a sender who picks the key or IV can
// make it so, to have ciphertext served on the keyless endpoints despite
// media.opaque_content: refuse. The opaque-content policy therefore counts
// a type only when its structure checks out in the first bytes
// (checkLen): an image header that decodes to sane dimensions, a
// container whose first records parse. Everything else is judged by its
// entropy like content of unknown type (Opaque).

// checkLen is how many leading bytes the structural check reads: JPEGs
// often carry an EXIF segment (up to 64 KiB) before their frame header.
const checkLen = 64 << 10

// typeCheck returns the Content.TypeCheck of content whose first bytes are
// head and whose sniffed type is sniffed.
func typeCheck(head []byte, sniffed string) string {
	if sniffed == "" {
		return ""
	}
	if structured(head, sniffed) {
		return media.TypeCheckStructure
	}
	return media.TypeCheckMagic
}

// structured reports whether head has the structure of the type.
func structured(head []byte, mime string) bool {
	switch mime {
	case "text/plain":
		return looksText(head)
	case "image/jpeg", "image/png", "image/gif", "image/bmp", "image/tiff", "image/webp":
		return imageHeader(head, mime)
	case "application/pdf":
		return len(head) >= 8 && string(head[:5]) == "%PDF-" && (head[5] == '1' || head[5] == '2') && head[6] == '.' && isDigit(head[7])
	case "audio/x-wav", "video/x-msvideo", "audio/wav", "audio/wave":
		return riff(head)
	case "video/webm", "video/x-matroska", "audio/webm":
		return ebml(head)
	case "audio/ogg", "video/ogg", "application/ogg", "audio/opus":
		return oggPage(head)
	case "audio/x-flac", "audio/flac":
		return len(head) >= 8 && string(head[:4]) == "fLaC" && head[4]&0x7f == 0 && binary.BigEndian.Uint32(head[4:8])&0xffffff == 34
	case "audio/mpeg":
		return id3(head)
	}
	switch {
	case isoBMFF(head):
		return true // mp4, quicktime, m4a, 3gp, heif, avif
	case zipLocalHeader(head):
		return true // zip and the formats built on it (docx, odt, epub, jar, apk)
	}
	return false
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// imageHeader decodes the image's header from head.
func imageHeader(head []byte, mime string) bool {
	decode := map[string]func(io.Reader) (image.Config, error){
		"image/jpeg": jpeg.DecodeConfig, "image/png": png.DecodeConfig, "image/gif": gif.DecodeConfig,
		"image/bmp": bmp.DecodeConfig, "image/tiff": tiff.DecodeConfig, "image/webp": webp.DecodeConfig,
	}[mime]
	cfg, err := decode(bytes.NewReader(head))
	return err == nil && cfg.Width > 0 && cfg.Height > 0 && cfg.Width <= 1<<16 && cfg.Height <= 1<<16
}

// fourCC reports whether b is a printable four-character code.
func fourCC(b []byte) bool {
	if len(b) < 4 {
		return false
	}
	for _, c := range b[:4] {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// isoBMFF checks an ISO base media file: an "ftyp" box of sane size with
// printable brands, followed by a box with a printable type.
func isoBMFF(head []byte) bool {
	if len(head) < 16 || string(head[4:8]) != "ftyp" {
		return false
	}
	size := int(binary.BigEndian.Uint32(head))
	if size < 16 || size > 4096 || size%4 != 0 || size+8 > len(head) {
		return false
	}
	for off := 8; off < size; off += 4 {
		if off != 12 && !fourCC(head[off:]) { // 12: the minor version
			return false
		}
	}
	next := head[size:]
	n := binary.BigEndian.Uint32(next)
	return fourCC(next[4:]) && (n >= 8 || n <= 1) // 0: to the end, 1: 64-bit size
}

// zipLocalHeader checks a zip's first local file header: a known version
// and method, and a printable name of sane length.
func zipLocalHeader(head []byte) bool {
	if len(head) < 30 || string(head[:4]) != "PK\x03\x04" {
		return false
	}
	version := binary.LittleEndian.Uint16(head[4:])
	method := binary.LittleEndian.Uint16(head[8:])
	nameLen := int(binary.LittleEndian.Uint16(head[26:]))
	if version > 63 || (method != 0 && method != 8 && method != 12 && method != 14 && method != 93 && method != 99) || nameLen == 0 || nameLen > 1024 || 30+nameLen > len(head) {
		return false
	}
	name := head[30 : 30+nameLen]
	return looksText(name) && !strings.ContainsAny(string(name), "\t\n\r\f")
}

// riff checks a RIFF file's form type and its first chunk's ID.
func riff(head []byte) bool {
	return len(head) >= 20 && string(head[:4]) == "RIFF" && fourCC(head[8:]) && fourCC(head[12:]) &&
		binary.LittleEndian.Uint32(head[16:]) < 1<<30
}

// ebml checks a Matroska/WebM header: the EBML magic and a DocType of
// "webm" or "matroska" within it.
func ebml(head []byte) bool {
	if len(head) < 8 || !bytes.HasPrefix(head, []byte{0x1a, 0x45, 0xdf, 0xa3}) {
		return false
	}
	h := head[:min(len(head), 64)]
	return bytes.Contains(h, []byte{0x42, 0x82, 0x84, 'w', 'e', 'b', 'm'}) || bytes.Contains(h, []byte{0x42, 0x82, 0x88, 'm', 'a', 't', 'r', 'o', 's', 'k', 'a'})
}

// oggPage checks the CRC of the first Ogg page.
func oggPage(head []byte) bool {
	if len(head) < 27 || string(head[:4]) != "OggS" || head[4] != 0 {
		return false
	}
	segs := int(head[26])
	if len(head) < 27+segs {
		return false
	}
	n := 27 + segs
	for _, l := range head[27 : 27+segs] {
		n += int(l)
	}
	if n > len(head) {
		return false
	}
	page := bytes.Clone(head[:n])
	want := binary.LittleEndian.Uint32(page[22:])
	copy(page[22:26], []byte{0, 0, 0, 0})
	return oggCRC(page) == want
}

// oggCRC is Ogg's CRC-32 (polynomial 0x04c11db7, not reflected).
func oggCRC(b []byte) uint32 {
	var crc uint32
	for _, c := range b {
		crc ^= uint32(c) << 24
		for range 8 {
			if crc&0x80000000 != 0 {
				crc = crc<<1 ^ 0x04c11db7
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// id3 checks an ID3v2 tag header and its first frame's ID.
func id3(head []byte) bool {
	if len(head) < 20 || string(head[:3]) != "ID3" || head[3] < 2 || head[3] > 4 || head[4] != 0 || head[5]&0x0f != 0 {
		return false
	}
	for _, c := range head[6:10] {
		if c >= 0x80 {
			return false
		}
	}
	id := head[10:14]
	if head[3] == 2 {
		id = head[10:13]
	}
	for _, c := range id {
		if !(c >= 'A' && c <= 'Z' || isDigit(c)) {
			return false
		}
	}
	return true
}
