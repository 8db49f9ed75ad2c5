package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/mediarepo/mediarepo/internal/e2ee"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

// legacyAndroid sends requests as the legacy Element Android line
// (BundesMessenger Android) does: never an Authorization header, JSON
// bodies with encrypted_body, Content-Type application/json.
func legacyAndroid(t *testing.T, method, url string, body any) (int, map[string][]string, []byte) {
	t.Helper()
	var hdr map[string]string
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
		hdr = map[string]string{"Content-Type": "application/json"}
	}
	if rd == nil {
		return do(t, method, url, "", nil, nil)
	}
	return do(t, method, url, "", rd, hdr)
}

// TestContentScannerClientsAsTheyAre drives the scanner routes with
// requests shaped as the clients send them: token-less calls of the legacy
// Element Android line with content_scanner.allow_unauthenticated, Element
// X's authenticated calls, and the answers both parse.
func TestContentScannerClientsAsTheyAre(t *testing.T) {
	hs := newHomeserver(t, users())
	s := newSetup(t, hs)
	s.scannerExtra = "  allow_unauthenticated: true\n  anonymous_per_second: 0.2\n  anonymous_burst: 12\n"
	in := start(t, s)
	pub := s.scannerPub

	// A clean image, downloaded and thumbnailed without a token.
	img := testenv.PNG(t, 64, 48)
	up, err := in.client(t, alice, aliceToken).UploadBytes(context.Background(), img, "image/png")
	if err != nil {
		t.Fatal(err)
	}
	id := up.ContentURI.FileID
	status, _, body := legacyAndroid(t, "GET", in.URL+mcs+"/download/example.org/"+id, nil)
	if status != 200 || !bytes.Equal(body, img) {
		t.Fatalf("token-less download: %d %.200s", status, body)
	}
	status, h, _ := legacyAndroid(t, "GET", in.URL+mcs+"/thumbnail/example.org/"+id+"?width=32&height=32&method=crop", nil)
	if status != 200 || !strings.HasPrefix(h["Content-Type"][0], "image/") {
		t.Fatalf("token-less thumbnail: %d %v", status, h["Content-Type"])
	}
	status, _, body = legacyAndroid(t, "GET", in.URL+mcs+"/scan/example.org/"+id, nil)
	if clean, _, _ := mcsAnswer(t, body); status != 200 || !clean {
		t.Fatalf("token-less scan: %d %s", status, body)
	}

	// An encrypted attachment, checked and fetched with encrypted_body.
	plain := append([]byte("an attachment from BundesMessenger "), testenv.Random(20<<10)...)
	f := uploadEncrypted(t, in, plain)
	eb, err := e2ee.EncryptFile(pub, f)
	if err != nil {
		t.Fatal(err)
	}
	status, _, body = legacyAndroid(t, "POST", in.URL+mcs+"/scan_encrypted", map[string]any{"encrypted_body": eb})
	if clean, _, _ := mcsAnswer(t, body); status != 200 || !clean {
		t.Fatalf("token-less scan_encrypted: %d %s", status, body)
	}
	status, _, body = legacyAndroid(t, "POST", in.URL+mcs+"/download_encrypted", map[string]any{"encrypted_body": eb})
	if got, err := decryptAll(body, f); status != 200 || err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("token-less download_encrypted: %d %v", status, err)
	}

	// Only what a token would get: opaque ciphertext is not served plain,
	// unknown media is not found, a wrong token is still refused.
	encID := f.URL[strings.LastIndex(f.URL, "/")+1:]
	status, _, body = legacyAndroid(t, "GET", in.URL+mcs+"/download/example.org/"+encID, nil)
	if _, reason, _ := mcsAnswer(t, body); status != 403 || reason != "MCS_MEDIA_NOT_CLEAN" {
		t.Fatalf("token-less plain download of ciphertext: %d %s", status, body)
	}
	status, body = do3(t, "GET", in.URL+mcs+"/download/example.org/"+id, "wrong-token")
	if _, reason, _ := mcsAnswer(t, body); status != 401 || reason != "M_UNKNOWN_TOKEN" {
		t.Fatalf("a wrong token: %d %s", status, body)
	}

	// The plaintext's type goes through the type policy (a PE executable
	// in an encrypted attachment), for Element X's authenticated call too.
	exe := append([]byte("MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"), testenv.Random(4096)...)
	fe := uploadEncrypted(t, in, exe)
	status, body = postJSON(t, in.URL+mcs+"/scan_encrypted", aliceToken, map[string]any{"file": fe})
	if _, reason, _ := mcsAnswer(t, body); status != 403 || reason != "MCS_MIME_TYPE_FORBIDDEN" {
		t.Fatalf("scan_encrypted of an encrypted executable: %d %s", status, body)
	}

	// Quarantined media: scan_encrypted answers the verdict, not an error.
	bad := uploadEncrypted(t, in, testenv.EICAR())
	status, body = postJSON(t, in.URL+mcs+"/scan_encrypted", aliceToken, map[string]any{"file": bad})
	if clean, _, _ := mcsAnswer(t, body); status != 200 || clean {
		t.Fatalf("scan_encrypted of EICAR: %d %s", status, body)
	}
	for _, token := range []string{bobToken, aliceToken} { // another client, and the same one again
		status, body = postJSON(t, in.URL+mcs+"/scan_encrypted", token, map[string]any{"file": bad})
		if clean, reason, info := mcsAnswer(t, body); status != 200 || clean || reason != "" || info == "" {
			t.Fatalf("scan_encrypted of quarantined media: %d %s, want 200 {\"clean\": false}", status, body)
		}
	}

	// Errors carry only documented reasons.
	for _, tc := range []struct {
		name, method, path string
		status             int
		reason             string
	}{
		{"unknown route", "GET", mcs + "/nothing/here", 404, "M_NOT_FOUND"},
		{"wrong method", "GET", mcs + "/scan_encrypted", 404, "M_NOT_FOUND"},
		{"bad thumbnail parameters", "GET", mcs + "/thumbnail/example.org/" + id + "?width=abc&height=1", 400, "MCS_MALFORMED_JSON"},
		{"invalid media ID", "GET", mcs + "/download/example.org/bad%2Fid", 404, "M_NOT_FOUND"},
	} {
		status, body := do3(t, tc.method, in.URL+tc.path, aliceToken)
		if _, reason, _ := mcsAnswer(t, body); status != tc.status || reason != tc.reason {
			t.Errorf("%s: %d %s, want %d %s", tc.name, status, body, tc.status, tc.reason)
		}
	}

	// The per-address limit: the burst is spent, the next token-less call
	// is 429 with Retry-After and a documented reason; a token still works.
	var limited bool
	for i := 0; i < 20 && !limited; i++ {
		status, h, body = legacyAndroid(t, "GET", in.URL+mcs+"/scan/example.org/"+id, nil)
		if status == 429 {
			limited = true
			if _, reason, _ := mcsAnswer(t, body); reason != "MCS_MEDIA_REQUEST_FAILED" || len(h["Retry-After"]) == 0 {
				t.Fatalf("anonymous limit: %s %v", body, h["Retry-After"])
			}
		}
	}
	if !limited {
		t.Fatal("20 token-less requests at once were never limited (burst 12)")
	}
	if status, body := do3(t, "GET", in.URL+mcs+"/scan/example.org/"+id, aliceToken); status != 200 {
		t.Fatalf("with a token after the anonymous limit: %d %s", status, body)
	}

	// The logs show the token-less requests as anonymous, with the address.
	in.stop()
	if logs := in.logs.String(); !strings.Contains(logs, `"user":"anonymous"`) || !strings.Contains(logs, `"client":"127.0.0.1"`) {
		t.Fatalf("no anonymous request in the logs:\n%s", logs)
	}
}

// TestContentScannerWithoutTokensIsOffByDefault: without the option a
// token-less call is 401 M_MISSING_TOKEN (public_key excepted); URL
// previews are off by default as well.
func TestContentScannerWithoutTokensIsOffByDefault(t *testing.T) {
	hs := newHomeserver(t, users())
	in := start(t, newSetup(t, hs))
	up, err := in.client(t, alice, aliceToken).UploadBytes(context.Background(), []byte("text"), "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/download/example.org/" + up.ContentURI.FileID, "/scan/example.org/" + up.ContentURI.FileID,
		"/thumbnail/example.org/" + up.ContentURI.FileID + "?width=32&height=32"} {
		status, _, body := legacyAndroid(t, "GET", in.URL+mcs+path, nil)
		if _, reason, _ := mcsAnswer(t, body); status != 401 || reason != "M_MISSING_TOKEN" {
			t.Errorf("%s without a token: %d %s", path, status, body)
		}
	}
	if status, _, _ := legacyAndroid(t, "GET", in.URL+mcs+"/public_key", nil); status != 200 {
		t.Errorf("public_key without a token: %d", status)
	}
	// URL previews are off by default too: an unknown endpoint to clients.
	status, _, body := do(t, "GET", in.URL+"/_matrix/client/v1/media/preview_url?url=https%3A%2F%2Fexample.org%2F", aliceToken, nil, nil)
	if code, _ := errcode(t, body); status != 404 || code != "M_UNRECOGNIZED" {
		t.Errorf("preview_url with url_preview off: %d %s", status, body)
	}
}
