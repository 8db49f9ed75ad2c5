package e2e

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"maunium.net/go/mautrix"

	"github.com/mediarepo/mediarepo/internal/testenv"
)

const (
	alice      = "@alice:example.org"
	aliceToken = "alice-token"
	bob        = "@bob:example.org"
	bobToken   = "bob-token"
)

func users() map[string]string {
	return map[string]string{aliceToken: alice, bobToken: bob, "mallory-token": "@mallory:evil.org"}
}

// objects counts the objects in the instance's bucket.
func objects(t *testing.T, bucket string) int {
	t.Helper()
	n := 0
	for obj := range testenv.S3Client(t).ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		n++
	}
	return n
}

func TestUploadScanDownload(t *testing.T) {
	hs := newHomeserver(t, users())
	s := newSetup(t, hs)
	in := start(t, s)
	ctx := context.Background()
	cli := in.client(t, alice, aliceToken)

	// unique text (clamd caches clean hashes; random bytes would look encrypted)
	content := bytes.Repeat([]byte("hello from the e2e test "+hex.EncodeToString(testenv.Random(8))+"\n"), 2000)
	up, err := cli.UploadBytesWithName(ctx, content, "text/plain", "Grüße \"x\".txt")
	if err != nil {
		t.Fatal(err)
	}
	if up.ContentURI.Homeserver != "example.org" {
		t.Fatalf("content URI %s", up.ContentURI)
	}
	got, err := cli.DownloadBytes(ctx, up.ContentURI) // waits for the clean verdict
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, content) {
		t.Fatalf("downloaded %d bytes, uploaded %d", len(got), len(content))
	}

	url := in.URL + "/_matrix/client/v1/media/download/example.org/" + up.ContentURI.FileID
	status, h, body := do(t, "GET", url, aliceToken, nil, nil)
	if status != 200 || !bytes.Equal(body, content) {
		t.Fatalf("GET: %d", status)
	}
	for k, want := range map[string]string{
		"Content-Type":                 "text/plain",
		"Content-Disposition":          `inline; filename="Gr__e _x_.txt"; filename*=utf-8''Gr%C3%BC%C3%9Fe%20%22x%22.txt`,
		"Cache-Control":                "private",
		"X-Content-Type-Options":       "nosniff",
		"Cross-Origin-Resource-Policy": "cross-origin",
		"Referrer-Policy":              "no-referrer",
		"Access-Control-Allow-Origin":  "*",
	} {
		if h.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, h.Get(k), want)
		}
	}
	if !strings.HasPrefix(h.Get("Content-Security-Policy"), "sandbox; default-src 'none'") {
		t.Errorf("CSP %q", h.Get("Content-Security-Policy"))
	}
	// the URL's file name wins; an unsafe type is an attachment
	status, h, _ = do(t, "GET", url+"/other%20name.html", aliceToken, nil, nil)
	if status != 200 || h.Get("Content-Disposition") != `inline; filename="other name.html"; filename*=utf-8''other%20name.html` {
		t.Errorf("named download: %d %q", status, h.Get("Content-Disposition"))
	}
	// ranges and ETags
	status, h, body = do(t, "GET", url, aliceToken, nil, map[string]string{"Range": "bytes=6-9"})
	if status != 206 || string(body) != "from" || h.Get("Content-Range") != "bytes 6-9/"+itoa(len(content)) {
		t.Errorf("range: %d %q %q", status, body, h.Get("Content-Range"))
	}
	status, _, _ = do(t, "GET", url, aliceToken, nil, map[string]string{"Range": "bytes=999999-"})
	if status != 416 {
		t.Errorf("unsatisfiable range: %d", status)
	}
	status, _, _ = do(t, "GET", url, aliceToken, nil, map[string]string{"If-None-Match": h.Get("ETag")})
	if status != 304 {
		t.Errorf("If-None-Match: %d", status)
	}
	status, h, body = do(t, "HEAD", url, aliceToken, nil, nil)
	if status != 200 || len(body) != 0 || h.Get("Content-Length") != itoa(len(content)) {
		t.Errorf("HEAD: %d %d %q", status, len(body), h.Get("Content-Length"))
	}
	// the legacy unauthenticated endpoint is frozen by default for media
	// uploaded since the release with federation endpoints
	status, _, body = do(t, "GET", in.URL+"/_matrix/media/v3/download/example.org/"+up.ContentURI.FileID, "", nil, nil)
	if code, _ := errcode(t, body); status != 404 || code != "M_NOT_FOUND" {
		t.Errorf("legacy download after the freeze: %d %s", status, code)
	}
	// identical content is stored once
	before := objects(t, s.bucket)
	up2, err := in.client(t, bob, bobToken).UploadBytes(ctx, content, "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	if up2.ContentURI == up.ContentURI || objects(t, s.bucket) != before {
		t.Errorf("dedup: %s vs %s, objects %d → %d", up.ContentURI, up2.ContentURI, before, objects(t, s.bucket))
	}
	if got, err := cli.DownloadBytes(ctx, up2.ContentURI); err != nil || !bytes.Equal(got, content) {
		t.Errorf("download of the deduplicated upload: %v", err)
	}

	// media survive a restart
	in.stop()
	in.start()
	if got, err := cli.DownloadBytes(ctx, up.ContentURI); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("after restart: %v", err)
	}
}

func TestInfectedUploadIsNeverServed(t *testing.T) {
	hs := newHomeserver(t, users())
	in := start(t, newSetup(t, hs))
	cli := in.client(t, alice, aliceToken)
	up, err := cli.UploadBytes(context.Background(), testenv.EICAR(), "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	status, _, body := do(t, "GET", in.URL+"/_matrix/client/v1/media/download/example.org/"+up.ContentURI.FileID+"?timeout_ms=20000", aliceToken, nil, nil)
	code, reason := errcode(t, body)
	if status != 403 || code != "M_FORBIDDEN" || reason != "MCS_MEDIA_NOT_CLEAN" {
		t.Fatalf("EICAR download: %d %s %s", status, code, reason)
	}
	// the known-infected hash is refused at upload, keeping nothing new
	// (the worker blocks the hash right after quarantining the record)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		status, _, body = do(t, "POST", in.URL+"/_matrix/media/v3/upload", bobToken, bytes.NewReader(testenv.EICAR()), nil)
		if status != 200 || time.Now().After(deadline) {
			break
		}
	}
	if code, reason := errcode(t, body); status != 403 || code != "M_FORBIDDEN" || reason != "MCS_MEDIA_NOT_CLEAN" {
		t.Fatalf("re-upload of EICAR: %d %s %s", status, code, reason)
	}
}

// TestUploadWaitsForVerdict: with scan.upload_wait the sender learns at
// once that a file is infected; the media stays quarantined.
func TestUploadWaitsForVerdict(t *testing.T) {
	hs := newHomeserver(t, users())
	s := newSetup(t, hs)
	s.uploadWait = "20s"
	in := start(t, s)
	status, _, body := do(t, "POST", in.URL+"/_matrix/media/v3/upload", aliceToken, bytes.NewReader(testenv.EICAR()), nil)
	if code, reason := errcode(t, body); status != 403 || code != "M_FORBIDDEN" || reason != "MCS_MEDIA_NOT_CLEAN" {
		t.Fatalf("infected upload with upload_wait: %d %s", status, body)
	}
	clean := []byte("a clean file " + hex.EncodeToString(testenv.Random(16)))
	up, err := in.client(t, alice, aliceToken).UploadBytes(context.Background(), clean, "text/plain")
	if err != nil {
		t.Fatalf("clean upload with upload_wait: %v", err)
	}
	status, _, body = do(t, "GET", in.URL+"/_matrix/client/v1/media/download/example.org/"+up.ContentURI.FileID+"?timeout_ms=0", aliceToken, nil, nil)
	if status != 200 || !bytes.Equal(body, clean) {
		t.Fatalf("the clean upload was decided before the answer: %d", status)
	}
}

func TestPendingMediaWaitsThenTimesOut(t *testing.T) {
	hs := newHomeserver(t, users())
	s := newSetup(t, hs)
	s.extra = "" // scanning is configured, but no worker runs: media stays pending
	in := start(t, s)
	in.stop()
	in.env = []string{"MEDIAREPO_WORKERS=0"}
	in.start()
	up, err := in.client(t, alice, aliceToken).UploadBytes(context.Background(), []byte("pending forever"), "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	status, h, body := do(t, "GET", in.URL+"/_matrix/client/v1/media/download/example.org/"+up.ContentURI.FileID+"?timeout_ms=300", aliceToken, nil, nil)
	code, _ := errcode(t, body)
	if status != 504 || code != "M_NOT_YET_UPLOADED" || h.Get("Retry-After") == "" {
		t.Fatalf("pending: %d %s Retry-After=%q", status, code, h.Get("Retry-After"))
	}
	if el := time.Since(begin); el < 300*time.Millisecond {
		t.Fatalf("answered after %s without waiting", el)
	}
	// thumbnails follow the same rule: nothing from pending media
	status, h, body = do(t, "GET", in.URL+"/_matrix/client/v1/media/thumbnail/example.org/"+up.ContentURI.FileID+"?width=32&height=32&timeout_ms=200", aliceToken, nil, nil)
	if code, _ := errcode(t, body); status != 504 || code != "M_NOT_YET_UPLOADED" || h.Get("Retry-After") == "" {
		t.Fatalf("thumbnail of pending media: %d %s", status, code)
	}
}

func TestAsyncUpload(t *testing.T) {
	hs := newHomeserver(t, users())
	in := start(t, newSetup(t, hs))
	ctx := context.Background()
	cli := in.client(t, alice, aliceToken)
	created, err := cli.CreateMXC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !created.UnusedExpiresAt.Time.After(time.Now()) {
		t.Fatalf("unused_expires_at %v", created.UnusedExpiresAt.Time)
	}
	mxc := created.ContentURI
	putURL := in.URL + "/_matrix/media/v3/upload/example.org/" + mxc.FileID
	// a download before the upload waits, then 504
	status, _, body := do(t, "GET", in.URL+"/_matrix/client/v1/media/download/example.org/"+mxc.FileID+"?timeout_ms=200", aliceToken, nil, nil)
	if code, _ := errcode(t, body); status != 504 || code != "M_NOT_YET_UPLOADED" {
		t.Fatalf("download before upload: %d %s", status, code)
	}
	status, _, body = do(t, "PUT", putURL, bobToken, strings.NewReader("bob's"), nil)
	if code, _ := errcode(t, body); status != 403 || code != "M_FORBIDDEN" {
		t.Fatalf("PUT by another user: %d %s", status, code)
	}
	if _, err := cli.UploadMedia(ctx, mautrix.ReqUploadMedia{ContentBytes: []byte("async content"), ContentType: "text/plain", MXC: mxc}); err != nil {
		t.Fatal(err)
	}
	status, _, body = do(t, "PUT", putURL, aliceToken, strings.NewReader("again"), nil)
	if code, _ := errcode(t, body); status != 409 || code != "M_CANNOT_OVERWRITE_MEDIA" {
		t.Fatalf("second PUT: %d %s", status, code)
	}
	if got, err := cli.DownloadBytes(ctx, mxc); err != nil || string(got) != "async content" {
		t.Fatalf("download: %q %v", got, err)
	}
	status, _, body = do(t, "PUT", in.URL+"/_matrix/media/v3/upload/example.org/unknownid", aliceToken, strings.NewReader("x"), nil)
	if code, _ := errcode(t, body); status != 404 || code != "M_NOT_FOUND" {
		t.Fatalf("unknown media ID: %d %s", status, code)
	}
	// the per-user limit of pending creates: 3 in this config, 1 used above
	// (its upload arrived, so it no longer counts)
	for i := 0; i < 3; i++ {
		if status, _, body := do(t, "POST", in.URL+"/_matrix/media/v1/create", aliceToken, nil, nil); status != 200 {
			t.Fatalf("create %d: %d %s", i, status, body)
		}
	}
	status, h, body := do(t, "POST", in.URL+"/_matrix/media/v1/create", aliceToken, nil, nil)
	if code, _ := errcode(t, body); status != 429 || code != "M_LIMIT_EXCEEDED" || h.Get("Retry-After") == "" {
		t.Fatalf("fourth pending create: %d %s", status, code)
	}
}

func TestRefusedUploadsKeepNothing(t *testing.T) {
	hs := newHomeserver(t, users())
	s := newSetup(t, hs)
	in := start(t, s)
	up := in.URL + "/_matrix/media/v3/upload"
	big := testenv.Random(10<<20 + 1)
	status, _, body := do(t, "POST", up, aliceToken, bytes.NewReader(big), nil)
	if code, _ := errcode(t, body); status != 413 || code != "M_TOO_LARGE" {
		t.Fatalf("declared too large: %d %s", status, code)
	}
	// no Content-Length: caught while streaming
	pr, pw := io.Pipe()
	go func() { pw.Write(big); pw.Close() }()
	status, _, body = do(t, "POST", up, aliceToken, pr, nil)
	if code, _ := errcode(t, body); status != 413 || code != "M_TOO_LARGE" {
		t.Fatalf("streamed too large: %d %s", status, code)
	}
	status, _, body = do(t, "POST", up, aliceToken, strings.NewReader("x"), map[string]string{"Content-Type": "application/x-msdownload"})
	if code, reason := errcode(t, body); status != 403 || code != "M_FORBIDDEN" || reason != "MCS_MIME_TYPE_FORBIDDEN" {
		t.Fatalf("declared type: %d %s %s", status, code, reason)
	}
	exe := append([]byte("MZ\x90\x00\x03\x00\x00\x00\x04\x00"), make([]byte, 600)...)
	status, _, body = do(t, "POST", up, aliceToken, bytes.NewReader(exe), map[string]string{"Content-Type": "image/png"})
	if code, reason := errcode(t, body); status != 403 || code != "M_FORBIDDEN" || reason != "MCS_MIME_TYPE_FORBIDDEN" {
		t.Fatalf("sniffed type: %d %s %s", status, code, reason)
	}
	if n := objects(t, s.bucket); n != 0 {
		t.Fatalf("refused uploads left %d objects", n)
	}
}

func TestAuthAndRouting(t *testing.T) {
	hs := newHomeserver(t, users())
	in := start(t, newSetup(t, hs))
	cfgURL := in.URL + "/_matrix/client/v1/media/config"
	for _, tc := range []struct {
		name, method, url, token string
		status                   int
		code                     string
	}{
		{"no token", "GET", cfgURL, "", 401, "M_MISSING_TOKEN"},
		{"unknown token", "GET", cfgURL, "nope", 401, "M_UNKNOWN_TOKEN"},
		{"user of another server", "GET", cfgURL, "mallory-token", 401, "M_UNKNOWN_TOKEN"},
		{"query token", "GET", cfgURL + "?access_token=" + aliceToken, "", 401, "M_MISSING_TOKEN"},
		{"unknown endpoint", "GET", in.URL + "/_matrix/media/v3/nothing", aliceToken, 404, "M_UNRECOGNIZED"},
		{"wrong method", "DELETE", cfgURL, aliceToken, 405, "M_UNRECOGNIZED"},
		{"bad media ID", "GET", in.URL + "/_matrix/client/v1/media/download/example.org/bad.id", aliceToken, 404, "M_NOT_FOUND"},
		{"bad server name", "GET", in.URL + "/_matrix/client/v1/media/download/exa_mple..org/abc", aliceToken, 404, "M_NOT_FOUND"},
		{"path traversal", "GET", in.URL + "/_matrix/client/v1/media/download/example.org/..%2F..%2Fetc", aliceToken, 404, "M_NOT_FOUND"},
		{"unknown media", "GET", in.URL + "/_matrix/client/v1/media/download/example.org/abc?timeout_ms=0", aliceToken, 404, "M_NOT_FOUND"},
	} {
		status, _, body := do(t, tc.method, tc.url, tc.token, nil, nil)
		if code, _ := errcode(t, body); status != tc.status || code != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.name, status, code, tc.status, tc.code)
		}
	}
	status, _, body := do(t, "GET", cfgURL, aliceToken, nil, nil)
	if status != 200 || !strings.Contains(string(body), `"m.upload.size":10485760`) {
		t.Fatalf("config: %d %s", status, body)
	}
	status, h, _ := do(t, "OPTIONS", cfgURL, "", nil, nil)
	if status != 200 || h.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("OPTIONS: %d", status)
	}
	hs.setDown(true)
	time.Sleep(1100 * time.Millisecond) // let the 1s token cache lapse
	status, _, body = do(t, "GET", cfgURL, aliceToken, nil, nil)
	if status != 502 {
		t.Fatalf("homeserver down must be 502, never a pass or a 401: %d %s", status, body)
	}
}

func TestMautrixConfig(t *testing.T) {
	hs := newHomeserver(t, users())
	in := start(t, newSetup(t, hs))
	cfg, err := in.client(t, alice, aliceToken).GetMediaConfig(context.Background())
	if err != nil || cfg.UploadSize != 10<<20 {
		t.Fatalf("%+v %v", cfg, err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
