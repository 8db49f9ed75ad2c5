// Package e2ee holds the cryptography of end-to-end encrypted attachments as
// Element's content-scanner API sees them: the Matrix EncryptedFile (an
// AES-256-CTR key, IV and ciphertext hash sent by a client), the streaming
// decryption that feeds a virus scanner, and the encrypted_body scheme
// (m.megolm_backup.v1.curve25519-aes-sha2, libolm's PkEncryption) that clients
// use to hide the EncryptedFile from proxies.
//
// The package does no I/O besides reading and writing the server's key file,
// and never logs. Keys are secrets: EncryptedFile, JWK and KeyPair redact
// their key material in fmt verbs and in slog, and KeyDigest gives a value
// that can stand in for a key in caches. Errors wrap ErrMalformed,
// ErrFailedToDecrypt or ErrBadDecryption; the HTTP layer maps them to
// MCS_MALFORMED_JSON, MCS_MEDIA_FAILED_TO_DECRYPT and MCS_BAD_DECRYPTION.
package e2ee

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrMalformed is wrapped by every error about an EncryptedFile or a request
// body that breaks the contract (wrong version, algorithm, lengths, encodings,
// URL). The HTTP layer answers 400 MCS_MALFORMED_JSON.
var ErrMalformed = errors.New("malformed encrypted file")

// ErrFailedToDecrypt is wrapped when a well-formed EncryptedFile does not fit
// the stored ciphertext: its hash differs from the ciphertext's SHA-256, or
// the counter would wrap (see NewDecryptReader). The HTTP layer answers 400
// MCS_MEDIA_FAILED_TO_DECRYPT.
var ErrFailedToDecrypt = errors.New("failed to decrypt media")

// ErrBadDecryption is wrapped when an encrypted_body cannot be decrypted with
// the server's key (bad MAC, bad padding, low-order ephemeral key, garbage
// plaintext). The HTTP layer answers 403 MCS_BAD_DECRYPTION so that the client
// refetches the public key and retries.
var ErrBadDecryption = errors.New("bad decryption of encrypted_body")

const (
	keySize  = 32 // AES-256
	ivSize   = 16 // one AES block: the initial counter block
	hashSize = sha256.Size
)

// EncryptedFile is the Matrix spec's EncryptedFile (attachments in encrypted
// rooms, version v2): where the ciphertext lives and how to decrypt it. It is
// the JSON a client sends under "file". Decoding JSON into it does not check
// anything: call Validate.
type EncryptedFile struct {
	// V is the format version; only "v2" is accepted.
	V string `json:"v"`
	// URL is the mxc URI of the ciphertext.
	URL string `json:"url"`
	// IV is the unpadded standard base64 of the 16-byte initial counter block.
	IV string `json:"iv"`
	// Hashes holds the unpadded standard base64 SHA-256 of the ciphertext.
	Hashes Hashes `json:"hashes"`
	// Key is the AES-256-CTR key as a JSON Web Key.
	Key JWK `json:"key"`
}

// Hashes holds the hashes of an EncryptedFile's ciphertext. Only SHA-256 is
// defined by the spec; other entries are ignored.
type Hashes struct {
	// SHA256 is the unpadded standard base64 of the ciphertext's SHA-256.
	SHA256 string `json:"sha256"`
}

// JWK is the JSON Web Key of an EncryptedFile. Its String, GoString, Format
// and LogValue redact K.
type JWK struct {
	// Alg must be "A256CTR".
	Alg string `json:"alg"`
	// Kty must be "oct".
	Kty string `json:"kty"`
	// K is the unpadded base64url of the 32-byte key.
	K string `json:"k"`
	// KeyOps must contain at least "encrypt" and "decrypt".
	KeyOps []string `json:"key_ops"`
	// Ext must be true.
	Ext bool `json:"ext"`
}

// keyMaterial is the decoded secret part of an EncryptedFile.
type keyMaterial struct {
	key  [keySize]byte
	iv   [ivSize]byte
	hash [hashSize]byte
}

// Validate checks f against the contract and returns the parsed mxc URL.
// Every problem is reported (joined); each wraps ErrMalformed. A nil error
// means Decrypt-side use (NewDecryptReader, KeyDigest, CiphertextSHA256) will
// work.
func (f EncryptedFile) Validate() (MXC, error) {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...))
	}
	if f.V != "v2" {
		bad("v must be %q, got %q", "v2", clip(f.V))
	}
	mxc, err := ParseMXC(f.URL)
	if err != nil {
		errs = append(errs, fmt.Errorf("url: %w", err))
	}
	if f.Key.Alg != "A256CTR" {
		bad("key.alg must be %q, got %q", "A256CTR", clip(f.Key.Alg))
	}
	if f.Key.Kty != "oct" {
		bad("key.kty must be %q, got %q", "oct", clip(f.Key.Kty))
	}
	if !slices.Contains(f.Key.KeyOps, "encrypt") || !slices.Contains(f.Key.KeyOps, "decrypt") {
		bad("key.key_ops must contain \"encrypt\" and \"decrypt\"")
	}
	if !f.Key.Ext {
		bad("key.ext must be true")
	}
	if _, err := f.material(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return MXC{}, err
	}
	return mxc, nil
}

// material decodes key, IV and hash. Its errors wrap ErrMalformed and never
// contain the key.
func (f EncryptedFile) material() (keyMaterial, error) {
	var m keyMaterial
	var errs []error
	if err := decodeFixed(m.key[:], f.Key.K, base64.RawURLEncoding, base64.URLEncoding); err != nil {
		errs = append(errs, fmt.Errorf("%w: key.k must be base64url of %d bytes: %v", ErrMalformed, keySize, err))
	}
	if err := decodeFixed(m.iv[:], f.IV, base64.RawStdEncoding, base64.StdEncoding); err != nil {
		errs = append(errs, fmt.Errorf("%w: iv must be base64 of %d bytes: %v", ErrMalformed, ivSize, err))
	}
	if err := decodeFixed(m.hash[:], f.Hashes.SHA256, base64.RawStdEncoding, base64.StdEncoding); err != nil {
		errs = append(errs, fmt.Errorf("%w: hashes.sha256 must be base64 of %d bytes: %v", ErrMalformed, hashSize, err))
	}
	return m, errors.Join(errs...)
}

// CiphertextSHA256 returns the decoded hashes.sha256, the SHA-256 the client
// expects of the ciphertext. It is the zero array when the field does not
// decode to 32 bytes (Validate reports that).
func (f EncryptedFile) CiphertextSHA256() [32]byte {
	var h [hashSize]byte
	if decodeFixed(h[:], f.Hashes.SHA256, base64.RawStdEncoding, base64.StdEncoding) != nil {
		return [hashSize]byte{}
	}
	return h
}

// keyDigestDomain separates KeyDigest from every other SHA-256 in the system.
const keyDigestDomain = "mediarepo e2ee key digest v1\x00"

// KeyDigest returns SHA-256 over a domain tag, the decoded key, IV and
// ciphertext hash. It identifies "this ciphertext decrypted with this key" for
// per-key verdict caches without storing the key; encodings that decode to
// the same bytes (padded or not) give the same digest. It is the zero array
// when f does not decode (call Validate first).
func (f EncryptedFile) KeyDigest() [32]byte {
	m, err := f.material()
	if err != nil {
		return [32]byte{}
	}
	h := sha256.New()
	h.Write([]byte(keyDigestDomain))
	h.Write(m.key[:])
	h.Write(m.iv[:])
	h.Write(m.hash[:])
	var d [32]byte
	h.Sum(d[:0])
	return d
}

// decodeFixed decodes s with the unpadded encoding raw, or with the padded
// one when s carries padding, into exactly len(dst) bytes. Its errors never
// quote s.
func decodeFixed(dst []byte, s string, raw, padded *base64.Encoding) error {
	if len(s) > padded.EncodedLen(len(dst)) {
		return fmt.Errorf("%d characters is too long", len(s))
	}
	enc := raw
	if strings.HasSuffix(s, "=") {
		enc = padded
	}
	b, err := enc.DecodeString(s)
	if err != nil {
		return errors.New("not valid base64")
	}
	defer clear(b)
	if len(b) != len(dst) {
		return fmt.Errorf("decodes to %d bytes", len(b))
	}
	copy(dst, b)
	return nil
}

// clip shortens a client-supplied value for an error message.
func clip(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
