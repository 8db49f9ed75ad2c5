package thumbnail

import (
	"encoding/binary"
	"testing"
)

func TestJPEGOrientation(t *testing.T) {
	jpg := encodeJPEG(t, photo(16, 16))
	for o := uint16(1); o <= 8; o++ {
		for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
			if got := jpegOrientation(withEXIF(jpg, o, order)); got != int(o) {
				t.Errorf("%v orientation %d read as %d", order, o, got)
			}
		}
	}
	// Another APP segment first: the walk skips it.
	app0 := append([]byte{0xff, 0xd8, 0xff, 0xe0, 0x00, 0x05, 'J', 'F', 'I'}, withEXIF(jpg, 6, binary.BigEndian)[2:]...)
	if got := jpegOrientation(app0); got != 6 {
		t.Errorf("after an APP0: %d, want 6", got)
	}

	bad := map[string][]byte{
		"no exif":           jpg,
		"orientation 0":     withEXIF(jpg, 0, binary.BigEndian),
		"orientation 9":     withEXIF(jpg, 9, binary.LittleEndian),
		"empty":             nil,
		"soi only":          {0xff, 0xd8},
		"segment too long":  {0xff, 0xd8, 0xff, 0xe1, 0xff, 0xff, 'E', 'x', 'i', 'f', 0, 0},
		"segment too short": {0xff, 0xd8, 0xff, 0xe1, 0x00, 0x01},
		"not a marker":      {0xff, 0xd8, 0x00, 0x00, 0x00, 0x00},
	}
	for name, data := range bad {
		if got := jpegOrientation(data); got != 1 {
			t.Errorf("%s: %d, want 1", name, got)
		}
	}
}

func TestEXIFOrientationMalformed(t *testing.T) {
	good := exifSegment(6, binary.LittleEndian)[10:] // the TIFF structure
	if got := exifOrientation(good); got != 6 {
		t.Fatalf("good TIFF: %d, want 6", got)
	}
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte{}, good...)) }
	bad := map[string][]byte{
		"truncated header":  good[:7],
		"bad byte order":    mutate(func(b []byte) []byte { b[0] = 'X'; return b }),
		"bad magic":         mutate(func(b []byte) []byte { b[2] = 43; return b }),
		"ifd past the end":  mutate(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[4:], 1<<31); return b }),
		"ifd in the header": mutate(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[4:], 2); return b }),
		"count past the end": mutate(func(b []byte) []byte {
			binary.LittleEndian.PutUint16(b[8:], 0xffff)
			binary.LittleEndian.PutUint16(b[22:], 0x0001) // hide the real tag
			return b
		}),
		"wrong type":  mutate(func(b []byte) []byte { binary.LittleEndian.PutUint16(b[24:], 4); return b }),
		"wrong count": mutate(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[26:], 2); return b }),
		"cut entry":   good[:30],
	}
	for name, data := range bad {
		if got := exifOrientation(data); got != 1 {
			t.Errorf("%s: %d, want 1", name, got)
		}
	}
}

// FuzzJPEGOrientation: any bytes give an orientation in 1..8, no panic.
func FuzzJPEGOrientation(f *testing.F) {
	f.Add(withEXIF([]byte{0xff, 0xd8, 0xff, 0xd9}, 6, binary.BigEndian))
	f.Add([]byte{0xff, 0xd8, 0xff, 0xe1, 0x00, 0x08, 'E', 'x', 'i', 'f', 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if o := jpegOrientation(data); o < 1 || o > 8 {
			t.Fatalf("orientation %d", o)
		}
	})
}
