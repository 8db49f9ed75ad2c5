package e2ee

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func mustKeyPair(t *testing.T) *KeyPair {
	t.Helper()
	kp, err := GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

func TestPKRoundTrip(t *testing.T) {
	kp := mustKeyPair(t)
	for _, size := range []int{0, 1, 15, 16, 17, 1000} {
		plaintext := randomBytes(t, size)
		body, err := Encrypt(kp.PublicKeyBase64(), plaintext)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{body.Ciphertext, body.MAC, body.Ephemeral} {
			if strings.HasSuffix(s, "=") {
				t.Fatalf("padded base64 in %+v", body)
			}
		}
		got, err := kp.Decrypt(body)
		if err != nil || !bytes.Equal(got, plaintext) {
			t.Fatalf("size %d: %v", size, err)
		}
		padded := EncryptedBody{padStd(body.Ciphertext), padStd(body.MAC), padStd(body.Ephemeral)}
		if got, err := kp.Decrypt(padded); err != nil || !bytes.Equal(got, plaintext) {
			t.Fatalf("size %d, padded: %v", size, err)
		}
	}
}

func TestPKDecryptRefusesTampering(t *testing.T) {
	kp := mustKeyPair(t)
	f := validFile()
	body, err := EncryptFile(kp.PublicKeyBase64(), f)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(s string, i int) string {
		b, err := base64.RawStdEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		b[i] ^= 0x01
		return base64.RawStdEncoding.EncodeToString(b)
	}
	ct, _ := base64.RawStdEncoding.DecodeString(body.Ciphertext)
	cases := map[string]EncryptedBody{
		"mac flipped":              {body.Ciphertext, flip(body.MAC, 3), body.Ephemeral},
		"ephemeral flipped":        {body.Ciphertext, body.MAC, flip(body.Ephemeral, 5)},
		"last block flipped":       {flip(body.Ciphertext, len(ct)-1), body.MAC, body.Ephemeral},
		"second-last flipped":      {flip(body.Ciphertext, len(ct)-17), body.MAC, body.Ephemeral},
		"first block flipped":      {flip(body.Ciphertext, 0), body.MAC, body.Ephemeral},
		"truncated a block":        {base64.RawStdEncoding.EncodeToString(ct[:len(ct)-16]), body.MAC, body.Ephemeral},
		"not a block multiple":     {base64.RawStdEncoding.EncodeToString(ct[:len(ct)-1]), body.MAC, body.Ephemeral},
		"empty ciphertext":         {"", body.MAC, body.Ephemeral},
		"ciphertext not base64":    {"*" + body.Ciphertext[1:], body.MAC, body.Ephemeral},
		"mac empty":                {body.Ciphertext, "", body.Ephemeral},
		"mac full 32-byte HMAC":    {body.Ciphertext, base64.RawStdEncoding.EncodeToString(make([]byte, 32)), body.Ephemeral},
		"ephemeral short":          {body.Ciphertext, body.MAC, body.Ephemeral[:20]},
		"other server's key pair":  {}, // filled below
		"ephemeral is public key":  {body.Ciphertext, body.MAC, kp.PublicKeyBase64()},
		"everything swapped order": {body.Ephemeral, body.Ciphertext, body.MAC},
	}
	other, err := EncryptFile(mustKeyPair(t).PublicKeyBase64(), f)
	if err != nil {
		t.Fatal(err)
	}
	cases["other server's key pair"] = other
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := kp.DecryptFile(b)
			if !errors.Is(err, ErrBadDecryption) {
				t.Fatalf("DecryptFile = %v, want ErrBadDecryption", err)
			}
		})
	}
	if got, err := kp.DecryptFile(body); err != nil || got.Key.K != f.Key.K {
		t.Fatalf("untampered body: %v", err)
	}
}

// TestPKRejectsLowOrderPoints: X25519 with a point of small order gives an
// all-zero shared secret, which anyone can compute; such bodies are refused.
// Points from RFC 7748 / the usual curve25519 blacklist (little-endian).
func TestPKRejectsLowOrderPoints(t *testing.T) {
	kp := mustKeyPair(t)
	body, err := Encrypt(kp.PublicKeyBase64(), []byte(`{"file":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	points := []string{
		"0000000000000000000000000000000000000000000000000000000000000000", // 0
		"0100000000000000000000000000000000000000000000000000000000000000", // 1
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800", // order 8
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157", // order 8
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p-1
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p+1
	}
	for _, p := range points {
		raw, err := hex.DecodeString(p)
		if err != nil {
			t.Fatal(err)
		}
		b := body
		b.Ephemeral = base64.RawStdEncoding.EncodeToString(raw)
		_, err = kp.Decrypt(b)
		if !errors.Is(err, ErrBadDecryption) || !strings.Contains(err.Error(), "low-order") {
			t.Fatalf("ephemeral %s: %v, want a low-order refusal", p, err)
		}
	}
}

func TestUnpadPKCS7(t *testing.T) {
	block := func(tail ...byte) []byte {
		b := bytes.Repeat([]byte{'x'}, 32-len(tail))
		return append(b, tail...)
	}
	good := map[string]struct {
		in   []byte
		want int
	}{
		"one":        {block(1), 31},
		"two":        {block(2, 2), 30},
		"full block": {append(bytes.Repeat([]byte{'x'}, 16), bytes.Repeat([]byte{16}, 16)...), 16},
	}
	for name, tc := range good {
		got, ok := unpadPKCS7(tc.in)
		if !ok || len(got) != tc.want {
			t.Errorf("%s: ok=%v len=%d, want %d", name, ok, len(got), tc.want)
		}
	}
	bad := map[string][]byte{
		"zero":             block(0),
		"seventeen":        block(17),
		"255":              block(255),
		"inconsistent":     block(3, 2, 3),
		"inconsistent far": append(bytes.Repeat([]byte{'x'}, 16), append([]byte{15}, bytes.Repeat([]byte{16}, 15)...)...),
		"empty":            nil,
		"not a block":      bytes.Repeat([]byte{1}, 17),
	}
	for name, in := range bad {
		if _, ok := unpadPKCS7(in); ok {
			t.Errorf("%s: accepted", name)
		}
	}
	if got := padPKCS7(bytes.Repeat([]byte{'y'}, 16)); len(got) != 32 || got[31] != 16 {
		t.Fatalf("padding a full block: %v", got)
	}
}

// TestPKKnownAnswerMautrix decrypts the key-backup vector of mautrix-go's
// crypto/backup tests (an independent Go implementation of the same scheme;
// the data was produced by a libolm/vodozemac client).
func TestPKKnownAnswerMautrix(t *testing.T) {
	secret, err := base64.RawStdEncoding.DecodeString("ReSMMZeRtDSdrwXzu2OvN0B73KUXkYPt3kaYfFIkw10")
	if err != nil {
		t.Fatal(err)
	}
	kp, err := NewKeyPair(secret)
	if err != nil {
		t.Fatal(err)
	}
	body := EncryptedBody{
		Ciphertext: "vdLkqNTijkM1L7HmbxdZs1EHygC7GFG0wPTAaLqpOCoir3K6tNYbjIJs36vzrwawdmfPxZvA9p/k3bZIhZDP7IivGYe69+4pWiIzrwYkHCidigKXkYD8KxKWvakBquO9vWUssXC05xdkQjHMNJK3zSJgtkbMhoY28i1VUdmIjts4xU0cIT40F52Uyx3iu1UrqywUREEE5vhoSbeWxW3Vo5lqPi6rnyvMGZhVzAOv6re2O7wPWnSp0YJUsPaEj6Q9QpLr8BB9vJ++3kwmP5vxfjJLUsXuNEHWIKP5QyhpmGCgwjNpjnU6VhCqBzqs2M/KKX8zxZMGTIRidc3gx2i8KtDwRHRzh3FsSJEaC0sfCfGijpH5g9Pa+2P6b1GxvGQ4TF5X6ayLiV6FyNilpZ4z3kYsy63fP06uinHkX0TUClMQgLLmn0BAiOxKWtLNSLxgFdSYFm5oU/rpOBXWQKbzQ3cvlJZxBtxnaAhJnt3+t/3pJahlKAOxrQbKZAPL/KbO4nF9dsHpMkfMs25pVLDoHLKEXSBhagEFDbPKL5Uv55kca1C1XGrx+8fYUDBRQtYSLBSbAtF3UMv+hIMdRnmyQntwOy2hKRRs2UxnIlExk0Q",
		Ephemeral:  "24PxRUfQDyYNZcTq0HT8pS3Gq+zkfsAcXHFJ3nZ56W4",
		MAC:        "T7xq9qHm4Js",
	}
	plaintext, err := kp.Decrypt(body)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Algorithm  string `json:"algorithm"`
		SenderKey  string `json:"sender_key"`
		SessionKey string `json:"session_key"`
	}
	if err := json.Unmarshal(plaintext, &got); err != nil {
		t.Fatalf("plaintext is not JSON: %v", err)
	}
	if got.Algorithm != "m.megolm.v1.aes-sha2" || got.SenderKey != "JUUfV6vErSATm3rIOU9DML+IX1SlYxnAAS824xhbhC4" ||
		!strings.HasPrefix(got.SessionKey, "AQAAAAB6cP1PrdPeIG/B0ZRHNUc65ujvIzOxKhW1HN25efyZFaq9xsLvCngm4WO56gEuUhS16E4m") {
		t.Fatalf("plaintext differs from the vector: %+v", got)
	}
}

func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "request-secret")
	if _, err := LoadKeyPair(path); !errors.Is(err, ErrNoKeyFile) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	kp := mustKeyPair(t)
	if err := kp.WriteKeyFile(path); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v", st.Mode(), err)
	}
	loaded, err := LoadKeyPair(path)
	if err != nil || loaded.PublicKeyBase64() != kp.PublicKeyBase64() {
		t.Fatalf("load: %v", err)
	}
	if err := mustKeyPair(t).WriteKeyFile(path); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("overwrite: %v, want fs.ErrExist", err)
	}
	if again, _ := LoadKeyPair(path); again.PublicKeyBase64() != kp.PublicKeyBase64() {
		t.Fatal("the key file changed")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
	// The file holds padded base64 and a newline, like Element's scanner's.
	raw, _ := os.ReadFile(path)
	if len(raw) != 45 || raw[43] != '=' || raw[44] != '\n' {
		t.Fatalf("key file format: %d bytes", len(raw))
	}
}

func TestLoadKeyPairFormats(t *testing.T) {
	secret := bytes.Repeat([]byte{0x42}, 32)
	want, err := NewKeyPair(secret)
	if err != nil {
		t.Fatal(err)
	}
	std := base64.StdEncoding.EncodeToString(secret)
	good := map[string]string{
		"padded":              std,
		"unpadded":            strings.TrimRight(std, "="),
		"newline and spaces":  "  " + std + "\r\n\n",
		"unpadded + newline":  strings.TrimRight(std, "=") + "\n",
		"python scanner form": std + "\n",
	}
	for name, content := range good {
		path := filepath.Join(t.TempDir(), "k")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		kp, err := LoadKeyPair(path)
		if err != nil || kp.PublicKeyBase64() != want.PublicKeyBase64() {
			t.Errorf("%s: %v", name, err)
		}
	}
	bad := map[string]string{
		"empty":     "",
		"31 bytes":  base64.StdEncoding.EncodeToString(secret[:31]),
		"33 bytes":  base64.StdEncoding.EncodeToString(append(secret, 1)),
		"raw bytes": string(secret),
		"hex":       hex.EncodeToString(secret),
		"huge":      strings.Repeat("A", 4096),
	}
	for name, content := range bad {
		path := filepath.Join(t.TempDir(), "k")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadKeyPair(path)
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), std[:20]) || strings.Contains(err.Error(), hex.EncodeToString(secret)[:20]) {
			t.Errorf("%s: error quotes the file: %v", name, err)
		}
	}
}

func TestLoadOrGenerateKeyPair(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k")
	const n = 8
	var wg sync.WaitGroup
	pubs := make([]string, n)
	created := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			kp, c, err := LoadOrGenerateKeyPair(path)
			errs[i], created[i] = err, c
			if err == nil {
				pubs[i] = kp.PublicKeyBase64()
			}
		})
	}
	wg.Wait()
	creators := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if pubs[i] != pubs[0] {
			t.Fatal("concurrent first starts ended with different keys")
		}
		if created[i] {
			creators++
		}
	}
	if creators != 1 {
		t.Fatalf("%d callers claim to have created the key", creators)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}

func TestKeyPairNeverPrintsSecret(t *testing.T) {
	kp := mustKeyPair(t)
	secret := kp.priv.Bytes()
	forms := []string{
		base64.StdEncoding.EncodeToString(secret)[:20],
		base64.RawURLEncoding.EncodeToString(secret)[:20],
		hex.EncodeToString(secret)[:20],
		fmt.Sprint(secret)[:20],
	}
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
		outs = append(outs, fmt.Sprintf(verb, kp), fmt.Sprintf(verb, struct{ K *KeyPair }{kp}))
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("start", "keys", kp)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("start", "keys", kp)
	outs = append(outs, buf.String())
	for _, out := range outs {
		for _, f := range forms {
			if strings.Contains(out, f) {
				t.Fatalf("secret leaked in %q", out)
			}
		}
	}
	if !strings.Contains(buf.String(), kp.PublicKeyBase64()) {
		t.Fatalf("log lost the public key: %s", buf.String())
	}
}
