package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/mediarepo/mediarepo/internal/e2ee"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

const mcs = "/_matrix/media_proxy/unstable"

// startScanworker runs the scanworker binary with in's configuration and
// its own admin listener.
func startScanworker(t *testing.T, in *instance) *instance {
	sw := &instance{t: t, logs: &bytes.Buffer{}, cfgPath: in.cfgPath, program: "scanworker"}
	admin := freeAddr(t)
	sw.Admin = "http://" + admin
	sw.env = []string{"MEDIAREPO_ADMIN_LISTEN=" + admin, "MEDIAREPO_WORKERS=2"}
	sw.start()
	return sw
}

// uploadEncrypted encrypts plain like a Matrix client and uploads the
// ciphertext; it returns the EncryptedFile of the event.
func uploadEncrypted(t *testing.T, in *instance, plain []byte) e2ee.EncryptedFile {
	t.Helper()
	ct, f, err := e2ee.EncryptAttachment(plain, "mxc://placeholder/x")
	if err != nil {
		t.Fatal(err)
	}
	up, err := in.client(t, alice, aliceToken).UploadBytes(context.Background(), ct, "application/octet-stream")
	if err != nil {
		t.Fatal(err)
	}
	f.URL = up.ContentURI.String()
	return f
}

func postJSON(t *testing.T, url, token string, v any) (int, []byte) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	status, _, body := do(t, "POST", url, token, bytes.NewReader(b), map[string]string{"Content-Type": "application/json"})
	return status, body
}

// mcsAnswer decodes {clean, info} or {reason, info}.
func mcsAnswer(t *testing.T, body []byte) (clean bool, reason, info string) {
	t.Helper()
	var a struct {
		Clean  bool   `json:"clean"`
		Reason string `json:"reason"`
		Info   string `json:"info"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("not a content-scanner answer: %q", body)
	}
	return a.Clean, a.Reason, a.Info
}

func testContentScanner(t *testing.T, in *instance, pub string) {
	// public_key needs no token and matches the key file
	status, _, body := do(t, "GET", in.URL+mcs+"/public_key", "", nil, nil)
	if status != 200 || !strings.Contains(string(body), `"public_key":"`+pub+`"`) {
		t.Fatalf("public_key: %d %s", status, body)
	}
	status, h, _ := do(t, "OPTIONS", in.URL+mcs+"/scan_encrypted", "", nil, nil)
	if status != 200 || h.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("OPTIONS: %d", status)
	}

	// a clean attachment, checked with the file and with encrypted_body
	plain := append([]byte("a clean attachment "), testenv.Random(100<<10)...)
	f := uploadEncrypted(t, in, plain)
	mxcID := f.URL[strings.LastIndex(f.URL, "/")+1:]
	status, body = postJSON(t, in.URL+mcs+"/scan_encrypted", aliceToken, map[string]any{"file": f})
	if clean, _, info := mcsAnswer(t, body); status != 200 || !clean || info != "File is clean" {
		t.Fatalf("scan_encrypted (file): %d %s", status, body)
	}
	eb, err := e2ee.EncryptFile(pub, f)
	if err != nil {
		t.Fatal(err)
	}
	status, _, dl := do(t, "POST", in.URL+mcs+"/download_encrypted", bobToken, jsonBody(t, map[string]any{"encrypted_body": eb}), nil)
	if status != 200 {
		t.Fatalf("download_encrypted: %d %s", status, dl)
	}
	if got, err := decryptAll(dl, f); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("download_encrypted returned other bytes: %v", err)
	}
	// the ciphertext is opaque: plain endpoints refuse it (fail closed)
	status, _, body = do(t, "GET", in.URL+"/_matrix/client/v1/media/download/example.org/"+mxcID, aliceToken, nil, nil)
	if code, reason := errcode(t, body); status != 403 || code != "M_FORBIDDEN" || reason != "MCS_MEDIA_NOT_CLEAN" {
		t.Fatalf("plain download of ciphertext: %d %s %s", status, code, reason)
	}

	// errors in the scanner's shape
	wrong := f
	wrong.Hashes.SHA256 = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	for _, tc := range []struct {
		name, token string
		body        any
		status      int
		reason      string
	}{
		{"no token", "", map[string]any{"file": f}, 401, "M_MISSING_TOKEN"},
		{"bad token", "nope", map[string]any{"file": f}, 401, "M_UNKNOWN_TOKEN"},
		{"malformed", aliceToken, map[string]any{"file": map[string]any{"v": "v1"}}, 400, "MCS_MALFORMED_JSON"},
		{"wrong hash", aliceToken, map[string]any{"file": wrong}, 400, "MCS_MEDIA_FAILED_TO_DECRYPT"},
		{"undecryptable body", aliceToken, map[string]any{"encrypted_body": map[string]string{"ciphertext": eb.Ciphertext, "mac": "AAAAAAAAAAA", "ephemeral": eb.Ephemeral}}, 403, "MCS_BAD_DECRYPTION"},
		{"unknown media", aliceToken, map[string]any{"file": withURL(f, "mxc://example.org/unknown")}, 404, "M_NOT_FOUND"},
	} {
		status, body := postJSON(t, in.URL+mcs+"/scan_encrypted", tc.token, tc.body)
		if _, reason, _ := mcsAnswer(t, body); status != tc.status || reason != tc.reason {
			t.Errorf("%s: %d %s, want %d %s", tc.name, status, body, tc.status, tc.reason)
		}
	}

	// EICAR inside an encrypted attachment: found in the plaintext, and the
	// media is quarantined for everyone
	bad := uploadEncrypted(t, in, testenv.EICAR())
	status, body = postJSON(t, in.URL+mcs+"/scan_encrypted", aliceToken, map[string]any{"file": bad})
	if clean, _, info := mcsAnswer(t, body); status != 200 || clean || info != "***VIRUS DETECTED***" {
		t.Fatalf("scan_encrypted of EICAR: %d %s", status, body)
	}
	status, body = postJSON(t, in.URL+mcs+"/download_encrypted", bobToken, map[string]any{"file": bad})
	if _, reason, _ := mcsAnswer(t, body); status != 403 || reason != "MCS_MEDIA_NOT_CLEAN" {
		t.Fatalf("download_encrypted of EICAR: %d %s", status, body)
	}
	badID := bad.URL[strings.LastIndex(bad.URL, "/")+1:]
	status, body = do3(t, "GET", in.URL+mcs+"/scan/example.org/"+badID, aliceToken)
	if clean, _, _ := mcsAnswer(t, body); status != 200 || clean {
		t.Fatalf("scan of the quarantined record: %d %s", status, body)
	}
}

func TestContentScannerInProcess(t *testing.T) {
	hs := newHomeserver(t, users())
	s := newSetup(t, hs)
	in := start(t, s)
	testContentScanner(t, in, s.scannerPub)

	// unencrypted media through the scanner API
	up, err := in.client(t, alice, aliceToken).UploadBytes(context.Background(), []byte("plain text for the scanner"), "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	status, body := do3(t, "GET", in.URL+mcs+"/scan/example.org/"+up.ContentURI.FileID, aliceToken)
	if clean, _, _ := mcsAnswer(t, body); status != 200 || !clean {
		t.Fatalf("scan: %d %s", status, body)
	}
	status, body = do3(t, "GET", in.URL+mcs+"/download/example.org/"+up.ContentURI.FileID, aliceToken)
	if status != 200 || string(body) != "plain text for the scanner" {
		t.Fatalf("download: %d %s", status, body)
	}
	status, body = do3(t, "GET", in.URL+mcs+"/download/example.org/nothing", aliceToken)
	if _, reason, _ := mcsAnswer(t, body); status != 404 || reason != "M_NOT_FOUND" {
		t.Fatalf("unknown: %d %s", status, body)
	}
}

// TestContentScannerViaScanworker: mediarepo without workers asks a
// separate scanworker over core NATS.
func TestContentScannerViaScanworker(t *testing.T) {
	hs := newHomeserver(t, users())
	s := newSetup(t, hs)
	in := start(t, s)
	in.stop()
	in.env = []string{"MEDIAREPO_WORKERS=0"}
	in.start()
	startScanworker(t, in)
	testContentScanner(t, in, s.scannerPub)
}

func TestContentScannerPendingIsNotUnclean(t *testing.T) {
	hs := newHomeserver(t, users())
	s := newSetup(t, hs)
	s.scannerWait = "1s" // no worker runs: media stays pending
	in := start(t, s)
	in.stop()
	in.env = []string{"MEDIAREPO_WORKERS=0"}
	in.start()
	up, err := in.client(t, alice, aliceToken).UploadBytes(context.Background(), []byte("pending"), "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	status, h, body := do(t, "GET", in.URL+mcs+"/scan/example.org/"+up.ContentURI.FileID, aliceToken, nil, nil)
	if _, reason, _ := mcsAnswer(t, body); status != 504 || reason != "MCS_MEDIA_REQUEST_FAILED" || h.Get("Retry-After") == "" {
		t.Fatalf("pending scan: %d %s", status, body)
	}
}

func jsonBody(t *testing.T, v any) io.Reader {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(b)
}

func decryptAll(ct []byte, f e2ee.EncryptedFile) ([]byte, error) {
	return io.ReadAll(e2ee.NewDecryptReader(bytes.NewReader(ct), f))
}

func withURL(f e2ee.EncryptedFile, url string) e2ee.EncryptedFile {
	f.URL = url
	return f
}

// do3 is do without request headers, returning status and body.
func do3(t *testing.T, method, url, token string) (int, []byte) {
	t.Helper()
	status, _, body := do(t, method, url, token, nil, nil)
	return status, body
}
