package e2ee

import (
	"fmt"
	"log/slog"
)

// redacted replaces key material wherever a key would otherwise be printed.
const redacted = "REDACTED"

// String describes f without its key: version, URL, IV, hash and the JWK
// parameters other than k. The IV and the ciphertext hash are not secret.
func (f EncryptedFile) String() string {
	return fmt.Sprintf("EncryptedFile{v:%q url:%q iv:%q sha256:%q key:%s}",
		f.V, f.URL, f.IV, f.Hashes.SHA256, f.Key.String())
}

// Format makes every fmt verb (%v, %+v, %#v, %s, %q, %x ...) print String,
// so the key cannot leak through a format string.
func (f EncryptedFile) Format(s fmt.State, verb rune) { formatRedacted(s, verb, f.String()) }

// LogValue makes slog log f without its key.
func (f EncryptedFile) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("v", f.V),
		slog.String("url", f.URL),
		slog.String("iv", f.IV),
		slog.String("sha256", f.Hashes.SHA256),
		slog.Any("key", f.Key),
	)
}

// String describes k with k.K replaced by REDACTED.
func (k JWK) String() string {
	return fmt.Sprintf("JWK{alg:%q kty:%q k:%s key_ops:%q ext:%t}", k.Alg, k.Kty, redacted, k.KeyOps, k.Ext)
}

// Format makes every fmt verb print String.
func (k JWK) Format(s fmt.State, verb rune) { formatRedacted(s, verb, k.String()) }

// LogValue makes slog log k with k.K replaced by REDACTED.
func (k JWK) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("alg", k.Alg),
		slog.String("kty", k.Kty),
		slog.String("k", redacted),
		slog.Any("key_ops", k.KeyOps),
		slog.Bool("ext", k.Ext),
	)
}

// formatRedacted prints the redacted description for any verb; %q quotes it.
func formatRedacted(s fmt.State, verb rune, desc string) {
	if verb == 'q' {
		fmt.Fprintf(s, "%q", desc)
		return
	}
	fmt.Fprint(s, desc)
}
