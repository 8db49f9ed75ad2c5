package sealed_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/mediarepo/mediarepo/internal/sealed"
	"github.com/mediarepo/mediarepo/internal/storage"
)

const pkg = sealed.SegmentSize + 32 // sealed size of one full segment

// fixture is a sealed store over a filesystem backend with raw access.
type fixture struct {
	t       *testing.T
	backend storage.Store
	s       *sealed.Store
}

func newFixture(t *testing.T) *fixture {
	backend := newFS(t)
	return &fixture{t: t, backend: backend, s: sealed.New(backend, keyring(t, "k1"))}
}

// seal stores data under key and returns the sealed bytes.
func (f *fixture) seal(key string, data []byte) []byte {
	put(f.t, f.s, key, data)
	raw, err := read(f.backend, key, 0, -1)
	if err != nil {
		f.t.Fatal(err)
	}
	return raw
}

// requireRejected stores raw as key and checks that whole and ranged reads
// fail with ErrTampered (or, where the key ID was hit, ErrUnknownKey). A
// negative range offset counts from the end of the size Stat reports.
func (f *fixture) requireRejected(what, key string, raw []byte, ranges ...[2]int64) {
	f.t.Helper()
	put(f.t, f.backend, key, raw)
	for _, r := range append([][2]int64{{0, -1}}, ranges...) {
		if r[0] < 0 {
			info, err := f.s.Stat(context.Background(), key)
			if err != nil {
				if !errors.Is(err, sealed.ErrTampered) {
					f.t.Errorf("%s: Stat: %v, want ErrTampered", what, err)
				}
				continue
			}
			r[0] = max(info.Size+r[0], 0)
		}
		got, err := read(f.s, key, r[0], r[1])
		if err == nil {
			f.t.Errorf("%s: Get [%d,+%d) returned %d bytes and no error", what, r[0], r[1], len(got))
			continue
		}
		if !errors.Is(err, sealed.ErrTampered) && !errors.Is(err, sealed.ErrUnknownKey) {
			f.t.Errorf("%s: Get [%d,+%d): %v, want ErrTampered", what, r[0], r[1], err)
		}
	}
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// seg returns segment i of a sealed blob.
func seg(raw []byte, i int) []byte {
	start := sealed.HeaderSize + i*pkg
	return raw[start:min(start+pkg, len(raw))]
}

func TestTruncationFails(t *testing.T) {
	f := newFixture(t)
	// A ranged read that does not reach the end of a truncated blob returns
	// authentic data; every read that reaches its end must fail.
	raw := f.seal("orig", randomBytes(t, 3*sealed.SegmentSize+500)) // 4 segments, the last short
	cuts := map[string]int{
		"last byte":             len(raw) - 1,
		"last segment":          sealed.HeaderSize + 3*pkg,
		"last two segments":     sealed.HeaderSize + 2*pkg,
		"all segments":          sealed.HeaderSize,
		"mid segment":           sealed.HeaderSize + pkg + 1000,
		"mid header":            sealed.HeaderSize - 1,
		"everything but 1 byte": 1,
	}
	for what, n := range cuts {
		f.requireRejected("truncated "+what, "cut", raw[:n], [2]int64{-10, -1}, [2]int64{-1, 1}, [2]int64{0, -1})
	}
	// A blob sealed from exactly full segments, cut at a segment edge.
	raw = f.seal("full", randomBytes(t, 2*sealed.SegmentSize))
	f.requireRejected("full segments minus the last", "cut", raw[:sealed.HeaderSize+pkg], [2]int64{10, -1}, [2]int64{-1, 1})
	// An empty blob cannot be made from a non-empty one by dropping the body.
	raw = f.seal("one", []byte("x"))
	f.requireRejected("one-byte blob cut to its header", "cut", raw[:sealed.HeaderSize], [2]int64{0, 10})
}

func TestAppendedDataFails(t *testing.T) {
	f := newFixture(t)
	data := randomBytes(t, sealed.SegmentSize+10)
	raw := f.seal("orig", data)
	f.requireRejected("byte appended", "ext", cat(raw, []byte{0}))
	f.requireRejected("segment repeated at the end", "ext", cat(raw, seg(raw, 1)))
	empty := f.seal("empty", nil)
	f.requireRejected("segment appended to an empty blob", "ext", cat(empty, seg(raw, 0)))
}

func TestSegmentReorderingFails(t *testing.T) {
	f := newFixture(t)
	raw := f.seal("orig", randomBytes(t, 3*sealed.SegmentSize+77))
	hdr := raw[:sealed.HeaderSize]
	n := int64(3*sealed.SegmentSize + 77)
	f.requireRejected("segments 0 and 1 swapped", "re", cat(hdr, seg(raw, 1), seg(raw, 0), seg(raw, 2), seg(raw, 3)),
		[2]int64{5, 10}, [2]int64{sealed.SegmentSize + 5, 10})
	f.requireRejected("segment 0 duplicated over 1", "re", cat(hdr, seg(raw, 0), seg(raw, 0), seg(raw, 2), seg(raw, 3)),
		[2]int64{sealed.SegmentSize + 5, 10})
	f.requireRejected("segment 1 dropped, 2 duplicated", "re", cat(hdr, seg(raw, 0), seg(raw, 2), seg(raw, 2), seg(raw, 3)),
		[2]int64{sealed.SegmentSize + 5, 10})
	f.requireRejected("final segment moved first", "re", cat(hdr, seg(raw, 3), seg(raw, 0), seg(raw, 1), seg(raw, 2)),
		[2]int64{0, 10}, [2]int64{n - 5, -1})
}

func TestBitFlipsFail(t *testing.T) {
	f := newFixture(t)
	data := randomBytes(t, 2*sealed.SegmentSize+300)
	raw := f.seal("orig", data)
	var positions []int
	for i := range sealed.HeaderSize {
		positions = append(positions, i) // every header byte
	}
	for i := sealed.HeaderSize; i < len(raw); i += 997 {
		positions = append(positions, i)
	}
	for i := range 3 { // each segment's DARE header, first payload byte and tag
		start := sealed.HeaderSize + i*pkg
		end := min(start+pkg, len(raw))
		positions = append(positions, start, start+15, start+16, end-16, end-1)
	}
	for _, pos := range positions {
		for _, bit := range []byte{0x01, 0x80} {
			bad := bytes.Clone(raw)
			bad[pos] ^= bit
			segment := int64(max(pos-sealed.HeaderSize, 0) / pkg)
			f.requireRejected(fmt.Sprintf("bit %#x of byte %d", bit, pos), "flip", bad,
				[2]int64{segment*sealed.SegmentSize + 1, 5})
		}
	}
}

// A header or segments of one blob combined with another blob fail: each
// blob has its own data key.
func TestSwapsBetweenBlobsFail(t *testing.T) {
	f := newFixture(t)
	a := f.seal("a", randomBytes(t, 2*sealed.SegmentSize+40))
	b := f.seal("b", randomBytes(t, 2*sealed.SegmentSize+40))
	ha, hb := a[:sealed.HeaderSize], b[:sealed.HeaderSize]
	f.requireRejected("header of b on a", "swap", cat(hb, a[sealed.HeaderSize:]), [2]int64{sealed.SegmentSize + 1, 10})
	f.requireRejected("segment 1 of b in a", "swap", cat(ha, seg(a, 0), seg(b, 1), seg(a, 2)), [2]int64{sealed.SegmentSize + 1, 10})
	f.requireRejected("final segment of b in a", "swap", cat(ha, seg(a, 0), seg(a, 1), seg(b, 2)), [2]int64{2*sealed.SegmentSize + 1, -1})
	f.requireRejected("all segments of b under a's header", "swap", cat(ha, b[sealed.HeaderSize:]), [2]int64{3, 3})
	// Two blobs under the same master key and data of the same size:
	// the wrapped key of a cannot be spliced into b's header.
	spliced := bytes.Clone(b)
	copy(spliced[sealed.HeaderSize-48:sealed.HeaderSize], a[sealed.HeaderSize-48:sealed.HeaderSize])
	f.requireRejected("wrapped key of a in b's header", "swap", spliced)
	// Untouched originals still open.
	for _, k := range []string{"a", "b"} {
		if _, err := read(f.s, k, 0, -1); err != nil {
			t.Errorf("original %s: %v", k, err)
		}
	}
}

func TestNotASealedBlob(t *testing.T) {
	f := newFixture(t)
	f.requireRejected("plain bytes", "plain", bytes.Repeat([]byte("x"), 1000))
	put(t, f.backend, "tiny", []byte("MRSB"))
	if _, err := f.s.Stat(context.Background(), "tiny"); !errors.Is(err, sealed.ErrTampered) {
		t.Errorf("Stat of a 4-byte blob: %v, want ErrTampered", err)
	}
	if _, err := read(f.s, "tiny", 0, -1); !errors.Is(err, sealed.ErrTampered) {
		t.Errorf("Get of a 4-byte blob: %v, want ErrTampered", err)
	}
}
