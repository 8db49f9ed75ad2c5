package e2ee

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
)

// EncryptedBody is the "encrypted_body" of a content-scanner request: a
// payload encrypted to the server's Curve25519 public key with libolm's
// PkEncryption, m.megolm_backup.v1.curve25519-aes-sha2. All three fields are
// unpadded standard base64 (padded is accepted).
type EncryptedBody struct {
	// Ciphertext is the AES-256-CBC ciphertext (PKCS#7 padded).
	Ciphertext string `json:"ciphertext"`
	// MAC is the 8-byte truncated HMAC-SHA256 (see KeyPair.Decrypt).
	MAC string `json:"mac"`
	// Ephemeral is the sender's ephemeral Curve25519 public key.
	Ephemeral string `json:"ephemeral"`
}

const (
	x25519Size = 32
	macSize    = 8
	// kdfSize is AES key, HMAC key and IV, derived in that order.
	kdfSize = keySize + sha256.Size + aes.BlockSize
)

// KeyPair is the server's Curve25519 key pair for encrypted_body. Its String,
// Format and LogValue show only the public key. A KeyPair is safe for
// concurrent use.
type KeyPair struct {
	priv *ecdh.PrivateKey
}

// GenerateKeyPair returns a new random key pair.
func GenerateKeyPair() (*KeyPair, error) {
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("e2ee: generate X25519 key: %w", err)
	}
	return &KeyPair{priv: priv}, nil
}

// NewKeyPair returns the key pair of a 32-byte X25519 secret (any 32 bytes;
// clamping is part of X25519). The caller may clear secret afterwards.
func NewKeyPair(secret []byte) (*KeyPair, error) {
	priv, err := ecdh.X25519().NewPrivateKey(secret)
	if err != nil {
		return nil, fmt.Errorf("e2ee: X25519 secret must be %d bytes, got %d", x25519Size, len(secret))
	}
	return &KeyPair{priv: priv}, nil
}

// PublicKey returns the 32-byte Curve25519 public key.
func (k *KeyPair) PublicKey() [32]byte {
	return [32]byte(k.priv.PublicKey().Bytes())
}

// PublicKeyBase64 returns the public key as unpadded standard base64, the
// value of GET /_matrix/media_proxy/unstable/public_key.
func (k *KeyPair) PublicKeyBase64() string {
	pub := k.PublicKey()
	return base64.RawStdEncoding.EncodeToString(pub[:])
}

// String shows the public key only.
func (k *KeyPair) String() string { return "e2ee.KeyPair{public:" + k.PublicKeyBase64() + "}" }

// Format makes every fmt verb print String, never the secret.
func (k *KeyPair) Format(s fmt.State, verb rune) { formatRedacted(s, verb, k.String()) }

// LogValue makes slog log the public key only.
func (k *KeyPair) LogValue() slog.Value { return slog.StringValue(k.PublicKeyBase64()) }

// Decrypt opens body: X25519 of the server's secret and body.Ephemeral (an
// all-zero result, from a low-order point, is refused), HKDF-SHA256 with an
// empty salt (equivalent to 32 zero bytes) and empty info to 80 bytes (AES
// key, HMAC key, IV), then a check of the MAC, which is HMAC-SHA256 under the
// HMAC key of the EMPTY string truncated to 8 bytes (libolm computes it that
// way and every client kept it; it authenticates the key agreement, not the
// ciphertext), then AES-256-CBC decryption and PKCS#7 unpadding. Every failure
// wraps ErrBadDecryption and says no more than which step failed.
func (k *KeyPair) Decrypt(body EncryptedBody) ([]byte, error) {
	var eph [x25519Size]byte
	var mac [macSize]byte
	if err := decodeFixed(eph[:], body.Ephemeral, base64.RawStdEncoding, base64.StdEncoding); err != nil {
		return nil, fmt.Errorf("%w: ephemeral must be base64 of %d bytes: %v", ErrBadDecryption, x25519Size, err)
	}
	if err := decodeFixed(mac[:], body.MAC, base64.RawStdEncoding, base64.StdEncoding); err != nil {
		return nil, fmt.Errorf("%w: mac must be base64 of %d bytes: %v", ErrBadDecryption, macSize, err)
	}
	ciphertext, err := decodeBase64(body.Ciphertext)
	if err != nil {
		return nil, fmt.Errorf("%w: ciphertext: %v", ErrBadDecryption, err)
	}
	if len(ciphertext) == 0 || len(ciphertext)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("%w: ciphertext of %d bytes is not a positive multiple of %d", ErrBadDecryption, len(ciphertext), aes.BlockSize)
	}
	ephPub, err := ecdh.X25519().NewPublicKey(eph[:])
	if err != nil {
		return nil, fmt.Errorf("%w: ephemeral key: %v", ErrBadDecryption, err)
	}
	shared, err := k.priv.ECDH(ephPub)
	if err != nil || isZero(shared) {
		return nil, fmt.Errorf("%w: ephemeral key is a low-order point", ErrBadDecryption)
	}
	aesKey, macKey, iv, err := deriveKeys(shared)
	clear(shared)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadDecryption, err)
	}
	defer clear(aesKey)
	if !hmac.Equal(emptyMAC(macKey), mac[:]) {
		return nil, fmt.Errorf("%w: MAC does not match (wrong key pair or tampered ephemeral key)", ErrBadDecryption)
	}
	block, err := aes.NewCipher(aesKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadDecryption, err)
	}
	plaintext := make([]byte, len(ciphertext))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plaintext, ciphertext)
	unpadded, ok := unpadPKCS7(plaintext)
	if !ok {
		clear(plaintext)
		return nil, fmt.Errorf("%w: bad padding", ErrBadDecryption)
	}
	return unpadded, nil
}

// Encrypt is the client side of the scheme (what Element does before calling
// scan_encrypted): it encrypts plaintext to publicKeyBase64 (as served by
// GET public_key; padded accepted) under a fresh ephemeral key.
func Encrypt(publicKeyBase64 string, plaintext []byte) (EncryptedBody, error) {
	var pubBytes [x25519Size]byte
	if err := decodeFixed(pubBytes[:], publicKeyBase64, base64.RawStdEncoding, base64.StdEncoding); err != nil {
		return EncryptedBody{}, fmt.Errorf("e2ee: public key must be base64 of %d bytes: %v", x25519Size, err)
	}
	pub, err := ecdh.X25519().NewPublicKey(pubBytes[:])
	if err != nil {
		return EncryptedBody{}, fmt.Errorf("e2ee: public key: %w", err)
	}
	eph, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return EncryptedBody{}, fmt.Errorf("e2ee: ephemeral key: %w", err)
	}
	shared, err := eph.ECDH(pub)
	if err != nil {
		return EncryptedBody{}, fmt.Errorf("e2ee: key agreement: %w", err)
	}
	aesKey, macKey, iv, err := deriveKeys(shared)
	if err != nil {
		return EncryptedBody{}, err
	}
	block, err := aes.NewCipher(aesKey)
	if err != nil {
		return EncryptedBody{}, fmt.Errorf("e2ee: %w", err)
	}
	padded := padPKCS7(plaintext)
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(padded, padded)
	return EncryptedBody{
		Ciphertext: base64.RawStdEncoding.EncodeToString(padded),
		MAC:        base64.RawStdEncoding.EncodeToString(emptyMAC(macKey)),
		Ephemeral:  base64.RawStdEncoding.EncodeToString(eph.PublicKey().Bytes()),
	}, nil
}

// deriveKeys expands the shared secret as libolm's CipherAesSha256 with empty
// KDF info does: HKDF-SHA256, no salt, 80 bytes.
func deriveKeys(shared []byte) (aesKey, macKey, iv []byte, err error) {
	okm, err := hkdf.Key(sha256.New, shared, nil, "", kdfSize)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("e2ee: HKDF: %w", err)
	}
	return okm[:keySize], okm[keySize : keySize+sha256.Size], okm[keySize+sha256.Size:], nil
}

// emptyMAC is libolm's PkEncryption MAC: HMAC-SHA256 of the empty string
// under macKey, truncated to 8 bytes.
func emptyMAC(macKey []byte) []byte {
	return hmac.New(sha256.New, macKey).Sum(nil)[:macSize]
}

// padPKCS7 returns a copy of b padded to a whole number of AES blocks.
func padPKCS7(b []byte) []byte {
	n := aes.BlockSize - len(b)%aes.BlockSize
	out := make([]byte, len(b)+n)
	copy(out, b)
	for i := len(b); i < len(out); i++ {
		out[i] = byte(n)
	}
	return out
}

// unpadPKCS7 strips PKCS#7 padding, examining the whole last block whatever
// the padding length so that the time taken does not depend on where the
// padding is wrong.
func unpadPKCS7(b []byte) ([]byte, bool) {
	n := len(b)
	if n == 0 || n%aes.BlockSize != 0 {
		return nil, false
	}
	pad := int(b[n-1])
	good := subtle.ConstantTimeLessOrEq(1, pad) & subtle.ConstantTimeLessOrEq(pad, aes.BlockSize)
	for i := 1; i <= aes.BlockSize; i++ {
		inPad := subtle.ConstantTimeLessOrEq(i, pad)
		same := subtle.ConstantTimeByteEq(b[n-i], byte(pad))
		good &= same | (inPad ^ 1)
	}
	if good != 1 {
		return nil, false
	}
	return b[:n-pad], true
}

func isZero(b []byte) bool {
	var acc byte
	for _, c := range b {
		acc |= c
	}
	return acc == 0
}

// decodeBase64 decodes unpadded (or padded) standard base64 of any length.
func decodeBase64(s string) ([]byte, error) {
	enc := base64.RawStdEncoding
	if len(s)%4 == 0 && len(s) > 0 && s[len(s)-1] == '=' {
		enc = base64.StdEncoding
	}
	b, err := enc.DecodeString(s)
	if err != nil {
		return nil, errors.New("not valid base64")
	}
	return b, nil
}
