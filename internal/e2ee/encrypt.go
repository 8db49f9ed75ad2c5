package e2ee

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
)

// EncryptReader is the client side of EncryptedFile, for tests and tools: it
// reads plaintext and yields the AES-256-CTR ciphertext under a fresh random
// key, with an IV of 8 random bytes and a zero 64-bit counter, as Matrix
// clients do. After it has returned io.EOF, File gives the EncryptedFile.
type EncryptReader struct {
	src    io.Reader
	stream cipher.Stream
	hash   hash.Hash
	key    [keySize]byte
	iv     [ivSize]byte
	done   bool
}

// NewEncryptReader starts encrypting plaintext under a new random key.
func NewEncryptReader(plaintext io.Reader) (*EncryptReader, error) {
	r := &EncryptReader{src: plaintext, hash: sha256.New()}
	if _, err := rand.Read(r.key[:]); err != nil {
		return nil, fmt.Errorf("e2ee: random key: %w", err)
	}
	if _, err := rand.Read(r.iv[:8]); err != nil {
		return nil, fmt.Errorf("e2ee: random IV: %w", err)
	}
	block, err := aes.NewCipher(r.key[:])
	if err != nil {
		return nil, fmt.Errorf("e2ee: %w", err)
	}
	r.stream = cipher.NewCTR(block, r.iv[:])
	return r, nil
}

// Read returns ciphertext.
func (r *EncryptReader) Read(p []byte) (int, error) {
	n, err := r.src.Read(p)
	if n > 0 {
		r.stream.XORKeyStream(p[:n], p[:n])
		r.hash.Write(p[:n])
	}
	if err == io.EOF {
		r.done = true
	}
	return n, err
}

// File returns the EncryptedFile for the ciphertext read so far, with url set
// (clients learn the mxc URI only after uploading). It fails before the
// plaintext has been read to io.EOF.
func (r *EncryptReader) File(url string) (EncryptedFile, error) {
	if !r.done {
		return EncryptedFile{}, errors.New("e2ee: File called before the plaintext was read to the end")
	}
	return EncryptedFile{
		V:      "v2",
		URL:    url,
		IV:     base64.RawStdEncoding.EncodeToString(r.iv[:]),
		Hashes: Hashes{SHA256: base64.RawStdEncoding.EncodeToString(r.hash.Sum(nil))},
		Key: JWK{
			Alg:    "A256CTR",
			Kty:    "oct",
			K:      base64.RawURLEncoding.EncodeToString(r.key[:]),
			KeyOps: []string{"encrypt", "decrypt"},
			Ext:    true,
		},
	}, nil
}

// EncryptAttachment encrypts plaintext in memory and returns the ciphertext
// and its EncryptedFile with URL set to url.
func EncryptAttachment(plaintext []byte, url string) ([]byte, EncryptedFile, error) {
	r, err := NewEncryptReader(bytes.NewReader(plaintext))
	if err != nil {
		return nil, EncryptedFile{}, err
	}
	ciphertext, err := io.ReadAll(r)
	if err != nil {
		return nil, EncryptedFile{}, fmt.Errorf("e2ee: %w", err)
	}
	f, err := r.File(url)
	return ciphertext, f, err
}
