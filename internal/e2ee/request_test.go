package e2ee

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseScanRequest(t *testing.T) {
	kp := mustKeyPair(t)
	f := validFile()
	body, err := EncryptFile(kp.PublicKeyBase64(), f)
	if err != nil {
		t.Fatal(err)
	}
	bad := validFile()
	bad.Key.Ext = false
	badBody, err := EncryptFile(kp.PublicKeyBase64(), bad)
	if err != nil {
		t.Fatal(err)
	}
	notFile, err := Encrypt(kp.PublicKeyBase64(), []byte(`{"foo":"bar"}`))
	if err != nil {
		t.Fatal(err)
	}
	mistyped, err := Encrypt(kp.PublicKeyBase64(), []byte(`{"file":{"v":2}}`))
	if err != nil {
		t.Fatal(err)
	}
	notJSON, err := Encrypt(kp.PublicKeyBase64(), []byte("\x00garbage"))
	if err != nil {
		t.Fatal(err)
	}
	tampered := body
	tampered.MAC = "AAAAAAAAAAA"
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	cases := []struct {
		name string
		body string
		keys *KeyPair
		want error // nil: success
	}{
		{"file", enc(ScanRequest{File: &f}), kp, nil},
		{"file, no key pair needed", enc(ScanRequest{File: &f}), nil, nil},
		{"file with extra fields", `{"file":` + enc(f) + `,"mimetype":"image/png"}`, kp, nil},
		{"encrypted_body", enc(ScanRequest{EncryptedBody: &body}), kp, nil},
		{"encrypted_body wins over a bad file", enc(ScanRequest{File: &bad, EncryptedBody: &body}), kp, nil},
		{"encrypted_body wins, and it is tampered", enc(ScanRequest{File: &f, EncryptedBody: &tampered}), kp, ErrBadDecryption},
		{"encrypted_body without a key pair", enc(ScanRequest{EncryptedBody: &body}), nil, ErrBadDecryption},
		{"encrypted_body holding a bad file", enc(ScanRequest{EncryptedBody: &badBody}), kp, ErrMalformed},
		{"encrypted_body holding other JSON", enc(ScanRequest{EncryptedBody: &notFile}), kp, ErrMalformed},
		{"encrypted_body holding a mistyped file", enc(ScanRequest{EncryptedBody: &mistyped}), kp, ErrMalformed},
		{"encrypted_body holding non-JSON", enc(ScanRequest{EncryptedBody: &notJSON}), kp, ErrBadDecryption},
		{"bad file", enc(ScanRequest{File: &bad}), kp, ErrMalformed},
		{"neither", `{}`, kp, ErrMalformed},
		{"nulls", `{"file":null,"encrypted_body":null}`, kp, ErrMalformed},
		{"not JSON", `{"file":`, kp, ErrMalformed},
		{"array", `[]`, kp, ErrMalformed},
		{"ext as string", strings.Replace(enc(ScanRequest{File: &f}), `"ext":true`, `"ext":"true"`, 1), kp, ErrMalformed},
		{"key_ops as string", strings.Replace(enc(ScanRequest{File: &f}), `["encrypt","decrypt"]`, `"encrypt,decrypt"`, 1), kp, ErrMalformed},
		{"encrypted_body as string", `{"encrypted_body":"x"}`, kp, ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, mxc, err := ParseScanRequest([]byte(tc.body), tc.keys)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("ParseScanRequest: %v", err)
				}
				if got.KeyDigest() != f.KeyDigest() || mxc.Origin != "example.org" || mxc.MediaID != "abcDEF123_-" {
					t.Fatalf("got %v, %+v", got, mxc)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if strings.Contains(err.Error(), f.Key.K) {
				t.Fatalf("error leaks the key: %v", err)
			}
		})
	}
}
