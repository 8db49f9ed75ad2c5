package e2ee

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// The key file holds the server's 32-byte X25519 secret as standard base64
// (padded or unpadded) and nothing else; surrounding whitespace and a final
// newline are ignored. WriteKeyFile writes the padded form and a newline. This
// is the format of the request_secret_path file of Element's Python content
// scanner, so a deployment can move its key (and the public key clients have
// cached) between the two. A new one can be made with
//
//	head -c 32 /dev/urandom | base64 > request-secret && chmod 600 request-secret
//
// Every replica mounts the same file. Errors about it never contain its
// content.

// maxKeyFileSize bounds what LoadKeyPair reads: the key is 44 characters.
const maxKeyFileSize = 1024

// ErrNoKeyFile is wrapped by LoadKeyPair when the key file does not exist.
var ErrNoKeyFile = errors.New("e2ee key file does not exist")

// LoadKeyPair reads the key file at path. A missing file wraps ErrNoKeyFile
// (and fs.ErrNotExist).
func LoadKeyPair(path string) (*KeyPair, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s: %w", ErrNoKeyFile, path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("e2ee: key file: %w", err)
	}
	defer f.Close()
	buf, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	defer clear(buf)
	if err != nil {
		return nil, fmt.Errorf("e2ee: key file %s: %w", path, err)
	}
	if len(buf) > maxKeyFileSize {
		return nil, fmt.Errorf("e2ee: key file %s is larger than %d bytes; want base64 of a %d-byte X25519 secret", path, maxKeyFileSize, x25519Size)
	}
	text := bytes.TrimSpace(buf)
	var secret [x25519Size]byte
	defer clear(secret[:])
	if err := decodeFixed(secret[:], string(text), base64.RawStdEncoding, base64.StdEncoding); err != nil {
		return nil, fmt.Errorf("e2ee: key file %s must hold base64 of a %d-byte X25519 secret: %v", path, x25519Size, err)
	}
	return NewKeyPair(secret[:])
}

// WriteKeyFile stores the secret at path with mode 0600, atomically and
// never over an existing file (that would change the public key under every
// client): it writes a temporary file in the same directory, syncs it and
// hard-links it into place. An existing file wraps fs.ErrExist.
func (k *KeyPair) WriteKeyFile(path string) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".e2ee-key-*")
	if err != nil {
		return fmt.Errorf("e2ee: write key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	text := []byte(base64.StdEncoding.EncodeToString(k.priv.Bytes()) + "\n")
	defer clear(text)
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("e2ee: write key file: %w", err)
	}
	if _, err := tmp.Write(text); err != nil {
		tmp.Close()
		return fmt.Errorf("e2ee: write key file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("e2ee: write key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("e2ee: write key file: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("e2ee: write key file: %w", err)
	}
	return syncDir(dir)
}

// LoadOrGenerateKeyPair loads the key file at path or, when there is none,
// generates a key pair and writes it there; created says which. Meant for the
// embedded single-process default only: replicas must share one key file made
// beforehand and use LoadKeyPair. If another process creates the file first,
// its key is loaded.
func LoadOrGenerateKeyPair(path string) (kp *KeyPair, created bool, err error) {
	kp, err = LoadKeyPair(path)
	if !errors.Is(err, ErrNoKeyFile) {
		return kp, false, err
	}
	kp, err = GenerateKeyPair()
	if err != nil {
		return nil, false, err
	}
	err = kp.WriteKeyFile(path)
	if errors.Is(err, fs.ErrExist) {
		kp, err = LoadKeyPair(path)
		return kp, false, err
	}
	if err != nil {
		return nil, false, err
	}
	return kp, true, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("e2ee: sync key directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("e2ee: sync key directory: %w", err)
	}
	return nil
}
