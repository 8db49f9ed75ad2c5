package e2ee

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"io"
)

// NewDecryptReaderAt returns a ReaderAt over the plaintext of the
// ciphertext that ra holds (size bytes), for scanners that need random
// access (archive inspection). AES-CTR is seekable: a read at offset off
// starts the counter at block off/16. It does not check the ciphertext's
// SHA-256: verify it first with VerifyCiphertextHash against a hash of
// bytes the caller knows to be authentic (the sealed store's). Bytes past
// the point where the IV's 64-bit counter would wrap fail like
// NewDecryptReader's. f must validate.
func NewDecryptReaderAt(ra io.ReaderAt, size int64, f EncryptedFile) (io.ReaderAt, error) {
	if _, err := f.Validate(); err != nil {
		return nil, err
	}
	m, err := f.material()
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(m.key[:])
	clear(m.key[:])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return &decryptReaderAt{src: ra, size: size, block: block, iv: m.iv, limit: counterLimit(m.iv)}, nil
}

type decryptReaderAt struct {
	src   io.ReaderAt
	size  int64
	block cipher.Block
	iv    [ivSize]byte
	limit uint64
}

// ReadAt implements io.ReaderAt.
func (d *decryptReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("e2ee: negative offset %d", off)
	}
	if d.limit != 0 && uint64(off)+uint64(len(p)) > d.limit && uint64(d.size) > d.limit {
		return 0, fmt.Errorf("%w: the IV's 64-bit counter wraps after %d bytes, clients would disagree on the plaintext", ErrFailedToDecrypt, d.limit)
	}
	n, err := d.src.ReadAt(p, off)
	if n == 0 {
		return n, err
	}
	// The counter block for byte off: IV + off/16 as a 128-bit big-endian
	// integer, then skip off%16 bytes of that block's key stream.
	ctr := d.iv
	add := uint64(off / aes.BlockSize)
	lo := binary.BigEndian.Uint64(ctr[8:])
	hi := binary.BigEndian.Uint64(ctr[:8])
	sum := lo + add
	if sum < lo {
		hi++
	}
	binary.BigEndian.PutUint64(ctr[8:], sum)
	binary.BigEndian.PutUint64(ctr[:8], hi)
	stream := cipher.NewCTR(d.block, ctr[:])
	if skip := int(off % aes.BlockSize); skip > 0 {
		var pad [aes.BlockSize]byte
		stream.XORKeyStream(pad[:skip], pad[:skip])
	}
	stream.XORKeyStream(p[:n], p[:n])
	return n, err
}
