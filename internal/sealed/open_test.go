package sealed

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/minio/sio"
)

// sioSealed seals plain with sio as Put does, under the cipher suite.
func sioSealed(t *testing.T, key, plain []byte, suite byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := sio.EncryptWriter(&out, sio.Config{MinVersion: sio.Version20, MaxVersion: sio.Version20,
		Key: key, CipherSuites: []byte{suite}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// readWith reads r to its end in reads of at most n bytes.
func readWith(r io.Reader, n int) ([]byte, error) {
	var out []byte
	buf := make([]byte, n)
	for {
		m, err := r.Read(buf)
		out = append(out, buf[:m]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// TestSegmentReaderReadsWhatSioSeals decrypts sio's streams of both
// cipher suites for sizes around the segment edges, with reads smaller
// than, equal to and larger than a segment.
func TestSegmentReaderReadsWhatSioSeals(t *testing.T) {
	key := make([]byte, KeySize)
	_, _ = rand.Read(key)
	for _, suite := range []byte{sio.AES_256_GCM, sio.CHACHA20_POLY1305} {
		for _, size := range []int{1, 100, SegmentSize - 1, SegmentSize, SegmentSize + 1, 3*SegmentSize + 17} {
			plain := make([]byte, size)
			_, _ = rand.Read(plain)
			stream := sioSealed(t, key, plain, suite)
			for _, bufSize := range []int{1, 4096, SegmentSize, 4 * SegmentSize} {
				t.Run(fmt.Sprintf("suite%d/%d/read%d", suite, size, bufSize), func(t *testing.T) {
					r := newSegmentReader(bytes.NewReader(stream), key, 0)
					defer r.Close()
					got, err := readWith(r, bufSize)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, plain) {
						t.Fatalf("got %d bytes, not the %d sealed", len(got), len(plain))
					}
				})
			}
		}
	}
}

// TestSegmentReaderRefuses checks the failures a reader of whole streams
// must report as ErrTampered, before any byte of a bad segment.
func TestSegmentReaderRefuses(t *testing.T) {
	key := make([]byte, KeySize)
	_, _ = rand.Read(key)
	plain := make([]byte, 2*SegmentSize+10)
	_, _ = rand.Read(plain)
	stream := sioSealed(t, key, plain, sio.AES_256_GCM)
	chacha := sioSealed(t, key, plain, sio.CHACHA20_POLY1305)
	other := sioSealed(t, key, plain, sio.AES_256_GCM) // another nonce
	flip := func(i int) []byte {
		b := bytes.Clone(stream)
		b[i] ^= 1
		return b
	}
	seg := func(s []byte, i int) []byte { return s[i*packageSize : min((i+1)*packageSize, len(s))] }
	cases := map[string][]byte{
		"empty":                   nil,
		"truncated":               stream[:len(stream)-1],
		"final segment dropped":   stream[:2*packageSize],
		"appended byte":           append(bytes.Clone(stream), 0),
		"appended segment":        cat2(stream, seg(stream, 2)),
		"segments swapped":        cat2(seg(stream, 1), seg(stream, 0), seg(stream, 2)),
		"segment of another blob": cat2(seg(stream, 0), seg(other, 1), seg(stream, 2)),
		"cipher changed midway":   cat2(seg(stream, 0), seg(chacha, 1), seg(chacha, 2)),
		"version":                 flip(0),
		"cipher byte":             flip(1),
		"length":                  flip(2),
		"final bit":               flip(4),
		"nonce":                   flip(10),
		"payload":                 flip(dareHeaderSize + 5),
		"tag":                     flip(packageSize - 1),
		"last segment payload":    flip(2*packageSize + dareHeaderSize + 1),
	}
	for name, s := range cases {
		t.Run(name, func(t *testing.T) {
			for _, bufSize := range []int{100, 4 * SegmentSize} {
				r := newSegmentReader(bytes.NewReader(s), key, 0)
				got, err := readWith(r, bufSize)
				r.Close()
				if !errors.Is(err, ErrTampered) {
					t.Fatalf("reads of %d: %v after %d bytes, want ErrTampered", bufSize, err, len(got))
				}
				if len(got) > 0 && !bytes.Equal(got, plain[:len(got)]) {
					t.Fatalf("reads of %d: released %d bytes that are not the plaintext", bufSize, len(got))
				}
			}
		})
	}
}

// TestSegmentReaderPassesSourceErrors keeps a failing backend apart from
// a tampered blob.
func TestSegmentReaderPassesSourceErrors(t *testing.T) {
	key := make([]byte, KeySize)
	boom := errors.New("connection reset")
	r := newSegmentReader(io.MultiReader(bytes.NewReader(make([]byte, 100)), failingSource{boom}), key, 0)
	_, err := r.Read(make([]byte, 10))
	if !errors.Is(err, boom) || errors.Is(err, ErrTampered) {
		t.Fatalf("got %v, want the source's error", err)
	}
}

type failingSource struct{ err error }

func (f failingSource) Read([]byte) (int, error) { return 0, f.err }

func cat2(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
