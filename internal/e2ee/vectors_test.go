package e2ee

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"
)

// npmVectors is testdata/npm-vectors.json, made by testdata/gen-vectors.js
// with matrix-encrypt-attachment and @matrix-org/olm (see testdata/README.md).
type npmVectors struct {
	Generator  string `json:"generator"`
	Attachment struct {
		Plaintext  string        `json:"plaintext_base64"`
		Ciphertext string        `json:"ciphertext_base64"`
		File       EncryptedFile `json:"file"`
	} `json:"attachment"`
	PK struct {
		PrivateKey    string        `json:"private_key_base64"`
		PublicKey     string        `json:"public_key_base64"`
		FilePlaintext string        `json:"file_plaintext"`
		FileBody      EncryptedBody `json:"file_body"`
		TextPlaintext string        `json:"text_plaintext"`
		TextBody      EncryptedBody `json:"text_body"`
	} `json:"pk"`
}

func loadNPMVectors(t *testing.T) npmVectors {
	t.Helper()
	raw, err := os.ReadFile("testdata/npm-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v npmVectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMatrixEncryptAttachmentVector decrypts an attachment encrypted by
// matrix-encrypt-attachment 1.0.3 (Element Web's attachment code).
func TestMatrixEncryptAttachmentVector(t *testing.T) {
	v := loadNPMVectors(t)
	f := v.Attachment.File
	mxc, err := f.Validate()
	if err != nil {
		t.Fatalf("the npm package's EncryptedFile does not validate: %v", err)
	}
	if mxc.MediaID != "matrixEncryptAttachmentVector" {
		t.Fatalf("mxc %+v", mxc)
	}
	ciphertext := mustB64(t, v.Attachment.Ciphertext)
	got, err := io.ReadAll(NewDecryptReader(bytes.NewReader(ciphertext), f))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, mustB64(t, v.Attachment.Plaintext)) {
		t.Fatal("plaintext differs from what the npm package encrypted")
	}
	// The plaintext is defined by the generator: byte i is 7i+3.
	for i, b := range got {
		if b != byte(i*7+3) {
			t.Fatalf("byte %d is %d", i, b)
		}
	}
	ciphertext[100] ^= 0x80
	if _, err := io.ReadAll(NewDecryptReader(bytes.NewReader(ciphertext), f)); err == nil {
		t.Fatal("tampered npm ciphertext decrypted without error")
	}
}

// TestOlmPkVector decrypts encrypted_body values made by libolm's
// PkEncryption (@matrix-org/olm 3.2.15) for the RFC 7748 test key.
func TestOlmPkVector(t *testing.T) {
	v := loadNPMVectors(t)
	kp, err := NewKeyPair(mustB64(t, v.PK.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	if kp.PublicKeyBase64() != v.PK.PublicKey {
		t.Fatalf("public key %s, libolm says %s", kp.PublicKeyBase64(), v.PK.PublicKey)
	}
	// RFC 7748 section 6.1: Alice's public key.
	if pub := kp.PublicKey(); hex.EncodeToString(pub[:]) != "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a" {
		t.Fatalf("public key %x differs from RFC 7748", pub)
	}
	text, err := kp.Decrypt(v.PK.TextBody)
	if err != nil || string(text) != v.PK.TextPlaintext {
		t.Fatalf("text body: %q, %v", text, err)
	}
	plaintext, err := kp.Decrypt(v.PK.FileBody)
	if err != nil || string(plaintext) != v.PK.FilePlaintext {
		t.Fatalf("file body: %v", err)
	}
	f, err := kp.DecryptFile(v.PK.FileBody)
	if err != nil {
		t.Fatal(err)
	}
	if f.KeyDigest() != v.Attachment.File.KeyDigest() || f.URL != v.Attachment.File.URL {
		t.Fatal("the file inside the olm body is not the attachment's")
	}
	// The full request as Element sends it, both fields present.
	req, err := json.Marshal(ScanRequest{File: &EncryptedFile{V: "v1"}, EncryptedBody: &v.PK.FileBody})
	if err != nil {
		t.Fatal(err)
	}
	got, mxc, err := ParseScanRequest(req, kp)
	if err != nil || got.KeyDigest() != f.KeyDigest() || mxc.String() != f.URL {
		t.Fatalf("ParseScanRequest: %v", err)
	}
}

// TestContentScannerPythonVector decrypts the encrypted PNG of Element's
// matrix-content-scanner-python tests (tests/testutils.py).
func TestContentScannerPythonVector(t *testing.T) {
	ciphertext, err := hex.DecodeString(strings.Join([]string{
		"9fd28dd7a1d845a04948f13af104e39402c888f7b601bce313ad",
		"bf3e2423f67d93d5e304efc147d46df511abacbb8ae7e2e8156c",
		"2e08de86c31fdc6aa5bd4d11537e5657102a83214d13d7ff57e6",
		"d35940f149fbd1e661a260b0b6fe465e4e0a7c8039c08d78f679",
		"cde511be94c685eee50571858d99d0c84918381aea3e52319509",
		"36cac1a7b2ec46c980f3c3995eaf21fc2711b0de8ff014ff5fe7",
		"4a7fcb3515df4f1f2ceeae72d7b58bc69d56dedf31fd430ac2ce",
		"8aee9fcb150a1af9fdee30ac26d68d3db77c1adec5f68cad78f9",
		"ed6ef9156ba23b76e38dfd59cb077c964248f331d43147dc7fa7",
		"b61baf7546e5edfd78347828386b64b3a1ebdff0dcd55ea57f4b",
		"b73b06fbedff62ef8a7fd89146fd11723e739d541d07bf399837",
		"3ed56cb9ef475bd409e590258cdb6a0cdf4871882c334c2897c4",
		"ea0dc76748e727a71d8c2e85253b2c80667f5d98ddbcf8fb90ba",
		"adceb6e75a2741b740dc0d084d55cc20dd7369e7041529b62ce1",
		"59bcde9d9a0f4978093cd52dfe77107613d2bc265519177ed623",
		"49d70517ecf4a243fb7c20db411459766785ee6f039f68383a62",
		"375b14cdf405401dc4aabf6812d9803218544d1ccdc9339e81cb",
		"b36acb3414e8dfb49521b89f1b6d54a712da35e45462844a622c",
		"aa92313335d317201e1eab5f34daba5358fde87648b24868b098",
		"505916b8bc997b19976487718835f0d54a8794e24ca19240cad1",
		"61e0624d8df2214edd3c33ae2b5156e2ef7191d75528f9c26a89",
		"4a",
	}, ""))
	if err != nil {
		t.Fatal(err)
	}
	f := EncryptedFile{
		V:      "v2",
		URL:    "mxc://foo/bar",
		IV:     "rJqtSdi3F/EAAAAAAAAAAA",
		Hashes: Hashes{SHA256: "NYvGRRQGfyWpXSUpba+ozSbehFP6kw5ZDg0xMppyX8c"},
		Key: JWK{Alg: "A256CTR", Kty: "oct", K: "F3miZm2vZhucJ062AuKMUwmd-O6AK0AXP29p4MKtq3Q",
			KeyOps: []string{"encrypt", "decrypt"}, Ext: true},
	}
	if _, err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	plaintext, err := io.ReadAll(NewDecryptReader(bytes.NewReader(ciphertext), f))
	if err != nil {
		t.Fatalf("decrypt: %v", err)
	}
	pngMagic := []byte("\x89PNG\r\n\x1a\n")
	iend := []byte("IEND\xaeB`\x82")
	if !bytes.HasPrefix(plaintext, pngMagic) || !bytes.HasSuffix(plaintext, iend) {
		t.Fatalf("plaintext is not a whole PNG: % x ... % x", plaintext[:8], plaintext[len(plaintext)-8:])
	}
}
