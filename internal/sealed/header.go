package sealed

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
)

// Header layout, HeaderSize bytes in front of every sealed blob:
//
//	0   4  magic "MRSB"
//	4   1  format version (1)
//	5   1  flags: bit 0 set = the plaintext is not empty
//	6   1  length of the key ID
//	7  64  master key ID, zero padded
//	71 12  GCM nonce of the key wrap (random)
//	83 48  data key sealed with AES-256-GCM under the master key (32 + 16 tag)
//
// Bytes 0..70 are the additional data of the key wrap, so a change to the
// version, the flags or the key ID makes the data key unrecoverable. The
// DARE 2.0 stream of the plaintext follows (nothing for empty plaintext).
const (
	headerMagic   = "MRSB"
	formatVersion = 1
	flagNonEmpty  = 1 << 0

	offKeyIDLen = 6
	offKeyID    = 7
	offNonce    = offKeyID + MaxKeyIDLength
	offWrapped  = offNonce + 12
	// HeaderSize is the length of the header of every sealed blob.
	HeaderSize = offWrapped + KeySize + 16
)

// header is a parsed blob header.
type header struct {
	nonEmpty bool
	keyID    string
	raw      [HeaderSize]byte
}

// newHeader draws a data key, wraps it with the keyring's current key and
// returns the encoded header with the data key.
func (k *Keyring) newHeader(nonEmpty bool) ([HeaderSize]byte, []byte, error) {
	var h [HeaderSize]byte
	dataKey := make([]byte, KeySize)
	if _, err := rand.Read(dataKey); err != nil {
		return h, nil, fmt.Errorf("sealed: data key: %w", err)
	}
	copy(h[:], headerMagic)
	h[4] = formatVersion
	if nonEmpty {
		h[5] = flagNonEmpty
	}
	h[offKeyIDLen] = byte(len(k.current))
	copy(h[offKeyID:], k.current)
	if _, err := rand.Read(h[offNonce:offWrapped]); err != nil {
		return h, nil, fmt.Errorf("sealed: nonce: %w", err)
	}
	aead, err := k.wrap(k.current)
	if err != nil {
		return h, nil, err
	}
	aead.Seal(h[offWrapped:offWrapped], h[offNonce:offWrapped], dataKey, h[:offNonce])
	return h, dataKey, nil
}

// parseHeader checks the fixed fields of raw. It does not authenticate:
// openHeader does.
func parseHeader(raw []byte) (header, error) {
	var h header
	if len(raw) < HeaderSize {
		return h, fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", ErrTampered, len(raw), HeaderSize)
	}
	copy(h.raw[:], raw)
	if string(raw[:4]) != headerMagic {
		return h, fmt.Errorf("%w: not a sealed blob (bad magic)", ErrTampered)
	}
	if raw[4] != formatVersion {
		return h, fmt.Errorf("%w: unknown format version %d", ErrTampered, raw[4])
	}
	if raw[5]&^flagNonEmpty != 0 {
		return h, fmt.Errorf("%w: unknown flags %#x", ErrTampered, raw[5])
	}
	n := int(raw[offKeyIDLen])
	if n == 0 || n > MaxKeyIDLength {
		return h, fmt.Errorf("%w: key ID length %d", ErrTampered, n)
	}
	h.keyID = string(raw[offKeyID : offKeyID+n])
	h.nonEmpty = raw[5]&flagNonEmpty != 0
	return h, nil
}

// openHeader authenticates h and returns its data key. An unknown key ID
// wraps ErrUnknownKey; anything else that does not verify wraps ErrTampered.
func (k *Keyring) openHeader(h header) ([]byte, error) {
	for _, b := range h.raw[offKeyID+len(h.keyID) : offNonce] {
		if b != 0 {
			return nil, fmt.Errorf("%w: key ID padding", ErrTampered)
		}
	}
	aead, err := k.wrap(h.keyID)
	if err != nil {
		return nil, err
	}
	dataKey, err := aead.Open(nil, h.raw[offNonce:offWrapped], h.raw[offWrapped:], h.raw[:offNonce])
	if err != nil {
		return nil, fmt.Errorf("%w: header does not verify under master key %q", ErrTampered, h.keyID)
	}
	return dataKey, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("sealed: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("sealed: %w", err)
	}
	return aead, nil
}
