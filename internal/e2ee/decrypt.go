package e2ee

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
)

// NewDecryptReader returns a reader of the plaintext of ciphertext, decrypted
// with AES-256-CTR under f's key, the 16-byte IV being the initial counter
// block. No byte is buffered beyond the caller's slice.
//
// The reader hashes the ciphertext as it streams. When ciphertext ends and its
// SHA-256 differs from f.Hashes.SHA256, the final Read returns 0 and an error
// wrapping ErrFailedToDecrypt instead of io.EOF: a scanner fed from this
// reader sees a failure, never a clean end, when the bytes are not the ones
// the client encrypted. The caller must discard any verdict reached on a
// stream that ended with an error.
//
// Browsers (WebCrypto, length 64) increment only the low 64 bits of the
// counter block, other clients all 128. The two agree unless the low half
// wraps, which an honest client (counter starting at 0) never reaches; an IV
// crafted to wrap would let the scanner see other plaintext than a browser.
// The reader therefore fails with ErrFailedToDecrypt before the first byte
// where the two would differ.
//
// If f does not validate, every Read returns the validation error (wrapping
// ErrMalformed). Other errors of ciphertext are returned unchanged.
func NewDecryptReader(ciphertext io.Reader, f EncryptedFile) io.Reader {
	if _, err := f.Validate(); err != nil {
		return &decryptReader{err: err}
	}
	m, err := f.material()
	if err != nil { // unreachable after Validate; kept so a change cannot skip it
		return &decryptReader{err: err}
	}
	block, err := aes.NewCipher(m.key[:])
	if err != nil {
		return &decryptReader{err: fmt.Errorf("%w: %v", ErrMalformed, err)}
	}
	clear(m.key[:])
	return &decryptReader{
		src:    ciphertext,
		stream: cipher.NewCTR(block, m.iv[:]),
		hash:   sha256.New(),
		want:   m.hash,
		limit:  counterLimit(m.iv),
	}
}

// counterLimit returns how many bytes decrypt identically whether the counter
// block is incremented as a 128-bit or as a 64-bit (low half) integer; 0 means
// no limit that a file could reach.
func counterLimit(iv [ivSize]byte) uint64 {
	low := binary.BigEndian.Uint64(iv[8:])
	if low == 0 {
		return 0
	}
	blocks := -low // 2^64 - low: blocks before the low half wraps
	if blocks >= 1<<59 {
		return 0 // more than 2^63 bytes
	}
	return blocks * aes.BlockSize
}

type decryptReader struct {
	src    io.Reader
	stream cipher.Stream
	hash   hash.Hash
	want   [hashSize]byte
	limit  uint64 // see counterLimit
	n      uint64 // ciphertext bytes read so far
	err    error  // sticky
}

func (r *decryptReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.src.Read(p)
	if n > 0 {
		r.n += uint64(n)
		if r.limit != 0 && r.n > r.limit {
			r.err = fmt.Errorf("%w: the IV's 64-bit counter wraps after %d bytes, clients would disagree on the plaintext", ErrFailedToDecrypt, r.limit)
			return 0, r.err
		}
		r.hash.Write(p[:n])
		r.stream.XORKeyStream(p[:n], p[:n])
	}
	switch {
	case err == io.EOF:
		var got [hashSize]byte
		r.hash.Sum(got[:0])
		if subtle.ConstantTimeCompare(got[:], r.want[:]) != 1 {
			r.err = fmt.Errorf("%w: SHA-256 of the %d ciphertext bytes does not match hashes.sha256", ErrFailedToDecrypt, r.n)
			return 0, r.err
		}
		r.err = io.EOF
	case err != nil:
		r.err = err
	}
	return n, err
}

// VerifyCiphertextHash compares f.Hashes.SHA256 with the SHA-256 the server
// recorded when the ciphertext was uploaded (64 hex digits), so a request can
// be refused before a byte is read. A mismatch wraps ErrFailedToDecrypt; an
// undecodable hashes.sha256 wraps ErrMalformed. A recorded value that is not
// 64 hex digits is a server fault and wraps neither.
func VerifyCiphertextHash(recordedHexSHA256 string, f EncryptedFile) error {
	var recorded [hashSize]byte
	if len(recordedHexSHA256) != 2*hashSize {
		return fmt.Errorf("e2ee: recorded SHA-256 has %d characters, want %d hex digits", len(recordedHexSHA256), 2*hashSize)
	}
	if _, err := hex.Decode(recorded[:], []byte(recordedHexSHA256)); err != nil {
		return fmt.Errorf("e2ee: recorded SHA-256 is not hex: %w", err)
	}
	var claimed [hashSize]byte
	if err := decodeFixed(claimed[:], f.Hashes.SHA256, base64.RawStdEncoding, base64.StdEncoding); err != nil {
		return fmt.Errorf("%w: hashes.sha256 must be base64 of %d bytes: %v", ErrMalformed, hashSize, err)
	}
	if claimed != recorded {
		return fmt.Errorf("%w: hashes.sha256 does not match the stored ciphertext", ErrFailedToDecrypt)
	}
	return nil
}
