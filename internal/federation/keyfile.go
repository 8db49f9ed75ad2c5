package federation

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"os"
	"strings"

	mfed "maunium.net/go/mautrix/federation"
)

// LoadSigningKey reads the homeserver's signing key from a Synapse-format
// key file: lines "ed25519 <key_id> <unpadded base64 seed>"; the first
// ed25519 line is used, blank lines and lines starting with '#' are
// skipped. Errors wrap ErrBadKeyFile and never contain key material.
func LoadSigningKey(path string) (*mfed.SigningKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKeyFile, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("%w: %s line %d: want \"ed25519 <key_id> <seed>\"", ErrBadKeyFile, path, n)
		}
		// ed25519.NewKeyFromSeed panics on a wrong length: check first.
		if seed, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(f[2], "=")); err != nil || len(seed) != ed25519.SeedSize {
			return nil, fmt.Errorf("%w: %s line %d: the seed is not %d bytes of base64", ErrBadKeyFile, path, n, ed25519.SeedSize)
		}
		f[2] = strings.TrimRight(f[2], "=")
		k, err := mfed.ParseSynapseKey(strings.Join(f, " "))
		if err != nil {
			// mautrix's messages name the format problem, not the seed.
			return nil, fmt.Errorf("%w: %s line %d: %v", ErrBadKeyFile, path, n, err)
		}
		if len(k.Priv) == 0 || k.ID == "" {
			return nil, fmt.Errorf("%w: %s line %d: empty key", ErrBadKeyFile, path, n)
		}
		return k, nil
	}
	return nil, fmt.Errorf("%w: %s holds no ed25519 key", ErrBadKeyFile, path)
}
