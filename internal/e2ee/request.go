package e2ee

import (
	"encoding/json"
	"errors"
	"fmt"
)

// ScanRequest is the JSON body of POST scan_encrypted and download_encrypted:
// the EncryptedFile in clear, or encrypted to the server's key. When both are
// present, EncryptedBody wins (as in Element's scanner).
type ScanRequest struct {
	// File is the EncryptedFile sent in clear.
	File *EncryptedFile `json:"file,omitempty"`
	// EncryptedBody is {"file": EncryptedFile} encrypted with Encrypt.
	EncryptedBody *EncryptedBody `json:"encrypted_body,omitempty"`
}

// fileEnvelope is the plaintext inside an encrypted_body.
type fileEnvelope struct {
	File *EncryptedFile `json:"file"`
}

// ParseScanRequest decodes a scan_encrypted / download_encrypted body, opens
// encrypted_body with keys when present, and validates the EncryptedFile. It
// returns the file and its parsed mxc URL.
//
// Errors: a body that is not JSON of that shape, or carries neither field, or
// whose EncryptedFile (in clear or decrypted) breaks the contract, wraps
// ErrMalformed; an encrypted_body that does not decrypt (including a
// plaintext that is not JSON, which is what tampering produces, and
// keys == nil) wraps ErrBadDecryption. Error texts never contain the key.
func ParseScanRequest(body []byte, keys *KeyPair) (EncryptedFile, MXC, error) {
	var req ScanRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return EncryptedFile{}, MXC{}, fmt.Errorf("%w: request body: %v", ErrMalformed, jsonProblem(err))
	}
	var f EncryptedFile
	switch {
	case req.EncryptedBody != nil:
		if keys == nil {
			return EncryptedFile{}, MXC{}, fmt.Errorf("%w: this server has no key for encrypted_body", ErrBadDecryption)
		}
		var err error
		if f, err = keys.DecryptFile(*req.EncryptedBody); err != nil {
			return EncryptedFile{}, MXC{}, err
		}
	case req.File != nil:
		f = *req.File
	default:
		return EncryptedFile{}, MXC{}, fmt.Errorf("%w: request body needs \"file\" or \"encrypted_body\"", ErrMalformed)
	}
	mxc, err := f.Validate()
	if err != nil {
		return EncryptedFile{}, MXC{}, err
	}
	return f, mxc, nil
}

// DecryptFile opens body (see Decrypt) and decodes the {"file": {...}} inside
// it. Decryption failures and a plaintext that is not JSON wrap
// ErrBadDecryption (without a MAC over the ciphertext, tampering shows up
// as garbage plaintext); JSON of another shape wraps ErrMalformed, as in
// Element's scanner. The file is not validated.
func (k *KeyPair) DecryptFile(body EncryptedBody) (EncryptedFile, error) {
	plaintext, err := k.Decrypt(body)
	if err != nil {
		return EncryptedFile{}, err
	}
	defer clear(plaintext)
	if !json.Valid(plaintext) {
		return EncryptedFile{}, fmt.Errorf("%w: plaintext is not JSON", ErrBadDecryption)
	}
	var env fileEnvelope
	if err := json.Unmarshal(plaintext, &env); err != nil {
		return EncryptedFile{}, fmt.Errorf("%w: encrypted_body plaintext: %v", ErrMalformed, jsonProblem(err))
	}
	if env.File == nil {
		return EncryptedFile{}, fmt.Errorf("%w: encrypted_body plaintext has no \"file\"", ErrMalformed)
	}
	return *env.File, nil
}

// EncryptFile is the client side: it encrypts {"file": f} to
// publicKeyBase64, giving the encrypted_body of a request.
func EncryptFile(publicKeyBase64 string, f EncryptedFile) (EncryptedBody, error) {
	plaintext, err := json.Marshal(fileEnvelope{File: &f})
	if err != nil {
		return EncryptedBody{}, fmt.Errorf("e2ee: %w", err)
	}
	defer clear(plaintext)
	return Encrypt(publicKeyBase64, plaintext)
}

// jsonProblem describes a JSON error without echoing values: a type error
// names the field and the JSON type, a syntax error its offset.
func jsonProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return fmt.Sprintf("field %q must not be a JSON %s", typeErr.Field, typeErr.Value)
	}
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		return fmt.Sprintf("invalid JSON at offset %d", syntaxErr.Offset)
	}
	return "invalid JSON"
}
