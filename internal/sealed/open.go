package sealed

import (
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"golang.org/x/crypto/chacha20poly1305"
)

// The read side of DARE 2.0, the format Put writes with
// github.com/minio/sio, decrypting each segment in place in a pooled
// buffer, or straight into the caller's buffer when that holds a whole
// segment. sio's DecryptReader makes the same checks but costs, per
// read, a 64 KiB buffer it zeroes again and the key schedules of both
// cipher suites, and for large reads one more copy of every segment
// (issue 18: on 10 KB downloads at concurrency 16 that was most of the
// garbage collector's 8 % and part of the allocations, on 256 MB ones
// a copy of every byte).
//
// A DARE 2.0 package is a 16-byte header (version 0x20, cipher suite,
// payload length - 1 as uint16 LE, and a 12-byte nonce whose top bit
// marks the final package), the sealed payload and a 16-byte tag. Every
// package of a stream has the same nonce but for the final bit; the
// AEAD nonce is the header's with the package's sequence number XORed
// into its last 4 bytes, and the first 4 header bytes are the
// additional data. The checks below are those of sio's authDecV20.Open.
const (
	dareVersion20  = 0x20
	dareAES256GCM  = 0
	dareChaCha20   = 1
	dareHeaderSize = 16
	dareTagSize    = 16
)

// Why a stream does not authenticate; the reader wraps each in ErrTampered.
var (
	errDareVersion = errors.New("unsupported DARE version")
	errDareCipher  = errors.New("unsupported or changed cipher suite")
	errDareSize    = errors.New("invalid segment size")
	errDareNonce   = errors.New("segment nonce does not match the stream")
	errDareTag     = errors.New("segment does not authenticate")
	errDareTrunc   = errors.New("stream ends before its final segment")
	errDareExtra   = errors.New("data after the final segment")
)

// packageBuffers holds segment buffers between reads. They hold
// plaintext of earlier reads, which is never handed out: a reader only
// releases bytes its own segment wrote.
var packageBuffers = sync.Pool{New: func() any { return new([packageSize]byte) }}

// segmentReader yields the plaintext of a DARE 2.0 stream read from src,
// whose first segment has sequence number seq. Plaintext is released
// only after its segment authenticated; a failure to authenticate wraps
// ErrTampered. Errors are sticky. Close (or the end of the stream)
// returns its buffer to the pool.
type segmentReader struct {
	src     io.Reader
	key     []byte
	seq     uint32
	aead    cipher.AEAD
	suite   byte
	nonce   [12]byte // the stream's nonce with the final bit cleared
	started bool     // nonce and suite are set
	final   bool     // the final segment was read
	srcEOF  bool     // src reported its end
	buf     *[packageSize]byte
	plain   []byte // authenticated plaintext not yet handed out, within buf
	err     error
}

func newSegmentReader(src io.Reader, dataKey []byte, seq uint32) *segmentReader {
	return &segmentReader{src: src, key: dataKey, seq: seq}
}

// Read returns plaintext of at most one segment per call.
func (r *segmentReader) Read(p []byte) (int, error) {
	if len(r.plain) > 0 {
		n := copy(p, r.plain)
		r.plain = r.plain[n:]
		return n, nil
	}
	if r.err != nil {
		return 0, r.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if r.final {
		return 0, r.stop(r.checkEnd())
	}
	if r.buf == nil {
		r.buf = packageBuffers.Get().(*[packageSize]byte)
	}
	sealed, err := r.readPackage()
	if err != nil {
		return 0, r.stop(err)
	}
	length := len(sealed) - dareHeaderSize - dareTagSize
	if len(p) >= length {
		// Straight into p: one pass over the bytes instead of two.
		if err := r.open(p[:0], sealed); err != nil {
			return 0, r.stop(err)
		}
		return length, nil
	}
	if err := r.open(sealed[dareHeaderSize:dareHeaderSize], sealed); err != nil {
		return 0, r.stop(err)
	}
	r.plain = sealed[dareHeaderSize : dareHeaderSize+length]
	n := copy(p, r.plain)
	r.plain = r.plain[n:]
	return n, nil
}

// readPackage reads the next package into r.buf and checks its header
// against the stream's.
func (r *segmentReader) readPackage() ([]byte, error) {
	n, err := io.ReadFull(r.src, r.buf[:])
	switch {
	case err == io.EOF:
		return nil, tampered(errDareTrunc)
	case err == io.ErrUnexpectedEOF:
		r.srcEOF = true
	case err != nil:
		return nil, err
	}
	pkg := r.buf[:n]
	if n <= dareHeaderSize+dareTagSize {
		return nil, tampered(errDareSize)
	}
	if pkg[0] != dareVersion20 {
		return nil, tampered(errDareVersion)
	}
	length := int(binary.LittleEndian.Uint16(pkg[2:4])) + 1
	final := pkg[4]&0x80 != 0
	if dareHeaderSize+length+dareTagSize != n || !final && length != SegmentSize {
		return nil, tampered(errDareSize)
	}
	if !r.started {
		if err := r.begin(pkg); err != nil {
			return nil, err
		}
	}
	if pkg[1] != r.suite {
		return nil, tampered(errDareCipher)
	}
	want := r.nonce
	if final {
		want[0] |= 0x80
	}
	if subtle.ConstantTimeCompare(pkg[4:dareHeaderSize], want[:]) != 1 {
		return nil, tampered(errDareNonce)
	}
	r.final = final
	return pkg, nil
}

// begin takes the cipher suite and nonce from the stream's first package.
func (r *segmentReader) begin(pkg []byte) error {
	var err error
	switch pkg[1] {
	case dareAES256GCM:
		r.aead, err = newGCM(r.key)
	case dareChaCha20:
		r.aead, err = chacha20poly1305.New(r.key)
	default:
		return tampered(errDareCipher)
	}
	if err != nil {
		return fmt.Errorf("sealed: data key: %w", err)
	}
	r.suite = pkg[1]
	copy(r.nonce[:], pkg[4:dareHeaderSize])
	r.nonce[0] &^= 0x80
	r.started = true
	return nil
}

// open authenticates and decrypts the package sealed into dst[:0], which
// is either disjoint from sealed or its payload's exact start.
func (r *segmentReader) open(dst, sealed []byte) error {
	var nonce [12]byte
	copy(nonce[:], sealed[4:dareHeaderSize])
	binary.LittleEndian.PutUint32(nonce[8:], binary.LittleEndian.Uint32(nonce[8:])^r.seq)
	if _, err := r.aead.Open(dst, nonce[:], sealed[dareHeaderSize:], sealed[:4]); err != nil {
		return tampered(errDareTag)
	}
	r.seq++
	return nil
}

// checkEnd reports io.EOF when src ends after the final package.
func (r *segmentReader) checkEnd() error {
	if r.srcEOF {
		return io.EOF
	}
	var b [1]byte
	for range 100 {
		n, err := r.src.Read(b[:])
		if n > 0 {
			return tampered(errDareExtra)
		}
		if err == io.EOF {
			return io.EOF
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

// stop records err and gives the buffer back.
func (r *segmentReader) stop(err error) error {
	r.err = err
	r.release()
	return err
}

// Close gives the buffer back; it does not close src.
func (r *segmentReader) Close() error {
	if r.err == nil {
		r.err = errClosed
	}
	r.release()
	return nil
}

func (r *segmentReader) release() {
	r.plain = nil
	if r.buf != nil {
		packageBuffers.Put(r.buf)
		r.buf = nil
	}
}

func tampered(err error) error { return fmt.Errorf("%w: %w", ErrTampered, err) }
