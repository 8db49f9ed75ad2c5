package e2ee

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// validFile returns a well-formed EncryptedFile with fixed, recognisable
// material (key bytes 0x00..0x1f).
func validFile() EncryptedFile {
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	iv := []byte{1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0}
	hash := bytes.Repeat([]byte{0xab}, 32)
	return EncryptedFile{
		V:      "v2",
		URL:    "mxc://example.org/abcDEF123_-",
		IV:     base64.RawStdEncoding.EncodeToString(iv),
		Hashes: Hashes{SHA256: base64.RawStdEncoding.EncodeToString(hash)},
		Key: JWK{
			Alg: "A256CTR", Kty: "oct",
			K:      base64.RawURLEncoding.EncodeToString(key),
			KeyOps: []string{"encrypt", "decrypt"}, Ext: true,
		},
	}
}

func TestValidateAcceptsContractForms(t *testing.T) {
	cases := map[string]func(*EncryptedFile){
		"as is":              func(*EncryptedFile) {},
		"padded iv":          func(f *EncryptedFile) { f.IV = padStd(f.IV) },
		"padded hash":        func(f *EncryptedFile) { f.Hashes.SHA256 = padStd(f.Hashes.SHA256) },
		"padded k":           func(f *EncryptedFile) { f.Key.K += "=" },
		"extra key_ops":      func(f *EncryptedFile) { f.Key.KeyOps = []string{"decrypt", "wrapKey", "encrypt"} },
		"origin with port":   func(f *EncryptedFile) { f.URL = "mxc://matrix.example.org:8448/id" },
		"IPv4 origin":        func(f *EncryptedFile) { f.URL = "mxc://10.0.0.1/id" },
		"IPv6 origin + port": func(f *EncryptedFile) { f.URL = "mxc://[2001:db8::1]:8448/id" },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			f := validFile()
			mutate(&f)
			mxc, err := f.Validate()
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if mxc.String() != f.URL {
				t.Fatalf("MXC %v does not print as %q", mxc, f.URL)
			}
		})
	}
}

func TestValidateRejectsEachBrokenField(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*EncryptedFile)
		want   string // in the error text
	}{
		{"v missing", func(f *EncryptedFile) { f.V = "" }, "v must be"},
		{"v1", func(f *EncryptedFile) { f.V = "v1" }, "v must be"},
		{"url empty", func(f *EncryptedFile) { f.URL = "" }, "not an mxc"},
		{"url https", func(f *EncryptedFile) { f.URL = "https://example.org/x" }, "not an mxc"},
		{"url no media", func(f *EncryptedFile) { f.URL = "mxc://example.org" }, "no media ID"},
		{"url empty media", func(f *EncryptedFile) { f.URL = "mxc://example.org/" }, "is empty"},
		{"url path traversal", func(f *EncryptedFile) { f.URL = "mxc://example.org/../etc" }, "media ID"},
		{"url extra segment", func(f *EncryptedFile) { f.URL = "mxc://example.org/a/b" }, "media ID"},
		{"url query", func(f *EncryptedFile) { f.URL = "mxc://example.org/a?x=1" }, "media ID"},
		{"url bad host", func(f *EncryptedFile) { f.URL = "mxc://exa_mple.org/a" }, "server name"},
		{"url empty host", func(f *EncryptedFile) { f.URL = "mxc:///a" }, "server name"},
		{"url bad port", func(f *EncryptedFile) { f.URL = "mxc://example.org:84x/a" }, "port"},
		{"url empty port", func(f *EncryptedFile) { f.URL = "mxc://example.org:/a" }, "port"},
		{"url long port", func(f *EncryptedFile) { f.URL = "mxc://example.org:123456/a" }, "port"},
		{"url open IPv6", func(f *EncryptedFile) { f.URL = "mxc://[::1/a" }, "IPv6"},
		{"url IPv6 junk", func(f *EncryptedFile) { f.URL = "mxc://[::1]x/a" }, "junk"},
		{"iv missing", func(f *EncryptedFile) { f.IV = "" }, "iv must be"},
		{"iv short", func(f *EncryptedFile) { f.IV = base64.RawStdEncoding.EncodeToString(make([]byte, 12)) }, "iv must be"},
		{"iv long", func(f *EncryptedFile) { f.IV = base64.RawStdEncoding.EncodeToString(make([]byte, 17)) }, "iv must be"},
		{"iv not base64", func(f *EncryptedFile) { f.IV = "!!!!!!!!!!!!!!!!!!!!!!" }, "iv must be"},
		{"hash missing", func(f *EncryptedFile) { f.Hashes.SHA256 = "" }, "hashes.sha256"},
		{"hash short", func(f *EncryptedFile) { f.Hashes.SHA256 = f.Hashes.SHA256[:40] }, "hashes.sha256"},
		{"hash hex", func(f *EncryptedFile) { f.Hashes.SHA256 = strings.Repeat("ab", 32) }, "hashes.sha256"},
		{"alg", func(f *EncryptedFile) { f.Key.Alg = "A128CTR" }, "key.alg"},
		{"alg missing", func(f *EncryptedFile) { f.Key.Alg = "" }, "key.alg"},
		{"kty", func(f *EncryptedFile) { f.Key.Kty = "RSA" }, "key.kty"},
		{"k missing", func(f *EncryptedFile) { f.Key.K = "" }, "key.k"},
		{"k short", func(f *EncryptedFile) { f.Key.K = f.Key.K[:40] }, "key.k"},
		{"k std alphabet", func(f *EncryptedFile) { f.Key.K = "+/" + f.Key.K[2:] }, "key.k"},
		{"key_ops missing", func(f *EncryptedFile) { f.Key.KeyOps = nil }, "key_ops"},
		{"key_ops no encrypt", func(f *EncryptedFile) { f.Key.KeyOps = []string{"decrypt"} }, "key_ops"},
		{"key_ops no decrypt", func(f *EncryptedFile) { f.Key.KeyOps = []string{"encrypt"} }, "key_ops"},
		{"ext false", func(f *EncryptedFile) { f.Key.Ext = false }, "key.ext"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := validFile()
			tc.mutate(&f)
			_, err := f.Validate()
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Validate = %v, want ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
			if strings.Contains(err.Error(), validFile().Key.K) {
				t.Fatalf("error leaks the key: %q", err)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	var f EncryptedFile
	_, err := f.Validate()
	for _, want := range []string{"v must be", "url", "key.alg", "key.kty", "key_ops", "key.ext", "key.k", "iv", "hashes.sha256"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error of an empty file does not mention %q: %v", want, err)
		}
	}
}

// TestValidateFromJSON decodes the JSON a client sends: a wrongly typed ext
// must fail (the decoder's type error), and a missing ext is false.
func TestValidateFromJSON(t *testing.T) {
	good, err := json.Marshal(validFile())
	if err != nil {
		t.Fatal(err)
	}
	var f EncryptedFile
	if err := json.Unmarshal(good, &f); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Validate(); err != nil {
		t.Fatalf("round-tripped file: %v", err)
	}
	noExt := strings.Replace(string(good), `,"ext":true`, "", 1)
	f = EncryptedFile{}
	if err := json.Unmarshal([]byte(noExt), &f); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Validate(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("file without ext: %v", err)
	}
}

func TestParseMXC(t *testing.T) {
	m, err := ParseMXC("mxc://example.org:8448/Ab_9-z")
	if err != nil || m.Origin != "example.org:8448" || m.MediaID != "Ab_9-z" {
		t.Fatalf("ParseMXC = %+v, %v", m, err)
	}
	long := "mxc://example.org/" + strings.Repeat("a", maxMediaIDLen+1)
	if _, err := ParseMXC(long); !errors.Is(err, ErrMalformed) {
		t.Fatalf("overlong media ID: %v", err)
	}
	if _, err := ParseMXC("MXC://example.org/a"); !errors.Is(err, ErrMalformed) {
		t.Fatalf("upper-case scheme: %v", err)
	}
}

func TestKeyDigest(t *testing.T) {
	f := validFile()
	d := f.KeyDigest()
	if d == ([32]byte{}) {
		t.Fatal("digest of a valid file is zero")
	}
	padded := f
	padded.IV, padded.Hashes.SHA256, padded.Key.K = padStd(f.IV), padStd(f.Hashes.SHA256), f.Key.K+"="
	padded.URL = "mxc://other.example/x"
	if padded.KeyDigest() != d {
		t.Fatal("padding or the URL changed the digest")
	}
	for name, mutate := range map[string]func(*EncryptedFile){
		"key":  func(f *EncryptedFile) { f.Key.K = "Z" + f.Key.K[1:] },
		"iv":   func(f *EncryptedFile) { f.IV = "Z" + f.IV[1:] },
		"hash": func(f *EncryptedFile) { f.Hashes.SHA256 = "Z" + f.Hashes.SHA256[1:] },
	} {
		g := validFile()
		mutate(&g)
		if g.KeyDigest() == d {
			t.Errorf("changing the %s does not change the digest", name)
		}
	}
	key, _ := base64.RawURLEncoding.DecodeString(f.Key.K)
	if bytes.Contains(d[:], key[:8]) {
		t.Fatal("digest contains key bytes")
	}
	var bad EncryptedFile
	if bad.KeyDigest() != ([32]byte{}) || bad.CiphertextSHA256() != ([32]byte{}) {
		t.Fatal("an undecodable file must give zero arrays")
	}
	if got := f.CiphertextSHA256(); got != [32]byte(bytes.Repeat([]byte{0xab}, 32)) {
		t.Fatalf("CiphertextSHA256 = %x", got)
	}
}

// TestKeyNeverPrinted formats an EncryptedFile, its JWK and structs holding
// them every way a log line or error might, and looks for the key.
func TestKeyNeverPrinted(t *testing.T) {
	f := validFile()
	k := f.Key.K
	type holder struct {
		File EncryptedFile
		Ptr  *EncryptedFile
	}
	var outs []string
	for _, v := range []any{f, &f, f.Key, &f.Key, holder{f, &f}, []EncryptedFile{f}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
			outs = append(outs, fmt.Sprintf(verb, v))
		}
		outs = append(outs, fmt.Sprint(v), fmt.Sprintln(v))
	}
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&buf, nil), slog.NewTextHandler(&buf, nil)} {
		l := slog.New(h)
		l.Info("req", "file", f, "ptr", &f, "key", f.Key)
		l.Info("grp", slog.Group("g", slog.Any("file", f)))
	}
	outs = append(outs, buf.String())
	for _, out := range outs {
		if strings.Contains(out, k) || strings.Contains(out, k[:16]) {
			t.Fatalf("key leaked: %s", out)
		}
	}
	if !strings.Contains(buf.String(), redacted) || !strings.Contains(buf.String(), f.URL) {
		t.Fatalf("slog output lost the redacted description: %s", buf.String())
	}
	if s := fmt.Sprint(f); !strings.Contains(s, f.URL) || !strings.Contains(s, redacted) {
		t.Fatalf("String = %s", s)
	}
}

func padStd(s string) string {
	for len(s)%4 != 0 {
		s += "="
	}
	return s
}
