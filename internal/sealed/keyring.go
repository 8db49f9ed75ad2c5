package sealed

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// KeySize is the length of a master key and of a blob's data key.
const KeySize = 32

// MaxKeyIDLength is the longest key ID; IDs use [A-Za-z0-9._-].
const MaxKeyIDLength = 64

// KeyFileSuffix ends the name of every master key file: the key ID is the
// file name without it.
const KeyFileSuffix = ".key"

// Keyring holds master keys by ID. The current key wraps the data keys of
// new blobs; every key in the ring unwraps blobs written under it, so
// rotation is: add a new key (it becomes current), keep the old ones for
// reading. A Keyring never prints its keys (String, GoString, LogValue).
type Keyring struct {
	keys    map[string][]byte
	current string
	// aeads are the key wraps' AES-256-GCM of every master key, set up
	// once: setting one up per blob read cost two key schedules and a
	// 2 KiB table per download (issue 18). They are safe for concurrent use.
	aeads map[string]cipher.AEAD
}

// NewKeyring returns a keyring of copies of keys in which current is the
// key for writing. IDs must be 1..64 characters of [A-Za-z0-9._-], keys
// KeySize bytes.
func NewKeyring(current string, keys map[string][]byte) (*Keyring, error) {
	kr := &Keyring{keys: make(map[string][]byte, len(keys)), current: current, aeads: make(map[string]cipher.AEAD, len(keys))}
	for id, key := range keys {
		if err := validateKeyID(id); err != nil {
			return nil, err
		}
		if len(key) != KeySize {
			return nil, fmt.Errorf("sealed: master key %q has %d bytes, want %d", id, len(key), KeySize)
		}
		kr.keys[id] = slices.Clone(key)
		aead, err := newGCM(kr.keys[id])
		if err != nil {
			return nil, err
		}
		kr.aeads[id] = aead
	}
	if _, ok := kr.keys[current]; !ok {
		return nil, fmt.Errorf("sealed: current master key %q is not in the keyring", current)
	}
	return kr, nil
}

// Current returns the ID of the key that wraps new blobs.
func (k *Keyring) Current() string { return k.current }

// IDs returns the IDs of all keys, sorted.
func (k *Keyring) IDs() []string {
	ids := make([]string, 0, len(k.keys))
	for id := range k.keys {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// String describes the keyring by key IDs only.
func (k *Keyring) String() string {
	return fmt.Sprintf("Keyring{current: %q, ids: %q}", k.current, k.IDs())
}

// GoString is String, so %#v cannot print keys either.
func (k *Keyring) GoString() string { return k.String() }

// LogValue makes slog log key IDs only.
func (k *Keyring) LogValue() slog.Value {
	return slog.GroupValue(slog.String("current", k.current), slog.Any("ids", k.IDs()))
}

// wrap returns the key wrap's AEAD under the master key with the ID, or
// an error wrapping ErrUnknownKey.
func (k *Keyring) wrap(id string) (cipher.AEAD, error) {
	aead, ok := k.aeads[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q (keyring has %q): add its key file to the key directory", ErrUnknownKey, id, k.IDs())
	}
	return aead, nil
}

// LoadKeyring reads every master key file in dir.
//
// File format: one file per key, named <key ID>.key (the ID: 1..64
// characters of [A-Za-z0-9._-]), holding the 32 key bytes as 64 hex digits
// or as standard base64; surrounding whitespace is ignored. Other files and
// names starting with "." (such as Kubernetes' ..data links) are ignored.
// The current key, used for new blobs, is the one whose ID sorts last
// (byte order), so name keys by date: 2026-11-23.key, then 2027-05-01.key.
// Every replica must hold the same files. Keep them mode 0600.
func LoadKeyring(dir string) (*Keyring, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("sealed: master key directory %s does not exist: create it and put a key file in it (%s)", dir, howToGenerate)
		}
		return nil, fmt.Errorf("sealed: master key directory: %w", err)
	}
	keys := map[string][]byte{}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !strings.HasSuffix(name, KeyFileSuffix) || e.IsDir() {
			continue
		}
		id, key, err := readKeyFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		keys[id] = key
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("sealed: no master key file (*%s) in %s: %s", KeyFileSuffix, dir, howToGenerate)
	}
	ids := make([]string, 0, len(keys))
	for id := range keys {
		ids = append(ids, id)
	}
	return NewKeyring(slices.Max(ids), keys)
}

// LoadKeyFile reads one master key file (format as for LoadKeyring) into a
// keyring holding just that key, for deployments that name a single key
// file in an environment variable.
func LoadKeyFile(path string) (*Keyring, error) {
	id, key, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	return NewKeyring(id, map[string][]byte{id: key})
}

const howToGenerate = "generate one with 32 random bytes in hex, e.g. " +
	"`umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n' > DIR/$(date +%F).key`, " +
	"and give every replica the same files"

// readKeyFile parses a key file; errors name the file but never its content.
func readKeyFile(path string) (string, []byte, error) {
	name := filepath.Base(path)
	id, ok := strings.CutSuffix(name, KeyFileSuffix)
	if !ok {
		return "", nil, fmt.Errorf("sealed: master key file %s: the name must be <key ID>%s", path, KeyFileSuffix)
	}
	if err := validateKeyID(id); err != nil {
		return "", nil, fmt.Errorf("sealed: master key file %s: %w", path, err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil, fmt.Errorf("sealed: master key file %s does not exist: %s", path, howToGenerate)
		}
		return "", nil, fmt.Errorf("sealed: master key file: %w", err)
	}
	key, err := decodeKey(strings.TrimSpace(string(raw)))
	if err != nil {
		return "", nil, fmt.Errorf("sealed: master key file %s: %w; %s", path, err, howToGenerate)
	}
	return id, key, nil
}

func decodeKey(text string) ([]byte, error) {
	if len(text) == 2*KeySize {
		if key, err := hex.DecodeString(text); err == nil {
			return key, nil
		}
	}
	if key, err := base64.StdEncoding.DecodeString(text); err == nil && len(key) == KeySize {
		return key, nil
	}
	return nil, fmt.Errorf("want %d bytes as %d hex digits or base64, found %d characters that are neither", KeySize, 2*KeySize, len(text))
}

func validateKeyID(id string) error {
	if id == "" || len(id) > MaxKeyIDLength {
		return fmt.Errorf("sealed: key ID %q must have 1 to %d characters", id, MaxKeyIDLength)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("sealed: key ID %q: character %q is not one of [A-Za-z0-9._-]", id, c)
		}
	}
	return nil
}

// GenerateKeyFile writes a new random master key to path (which must end
// in .key; the key ID is the file name without it) in hex, mode 0600. It
// never overwrites: an existing file is an error wrapping fs.ErrExist.
func GenerateKeyFile(path string) error {
	id, ok := strings.CutSuffix(filepath.Base(path), KeyFileSuffix)
	if !ok {
		return fmt.Errorf("sealed: key file %s: the name must be <key ID>%s", path, KeyFileSuffix)
	}
	if err := validateKeyID(id); err != nil {
		return err
	}
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("sealed: generate key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("sealed: create key file: %w", err)
	}
	_, werr := f.WriteString(hex.EncodeToString(key) + "\n")
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("sealed: write key file %s: %w", path, err)
	}
	return nil
}
