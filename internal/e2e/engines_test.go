package e2e

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/mediarepo/mediarepo/internal/testenv"
)

// TestICAPEngineStoppedServesNothing: the binary with two engines, the
// test clamd and a c-icap in front of it. With c-icap stopped an upload is
// never served (it waits, pending: fail closed) and /readyz names the
// engine; once c-icap is back the upload is scanned and served.
func TestICAPEngineStoppedServesNothing(t *testing.T) {
	icap := testenv.StartCICAP(t, strings.TrimPrefix(testenv.ClamdSocketAddr(t), "unix://"))
	hs := newHomeserver(t, users())
	s := newSetup(t, hs)
	s.engines = fmt.Sprintf(`engines:
    - {name: clamd, kind: clamd, address: %s}
    - {name: cicap, kind: icap, address: %s, max_size: %d}`, testenv.ClamdAddr(t), icap.Addr(), testenv.ClamdStreamMax(t))
	in := start(t, s)
	cli := in.client(t, alice, aliceToken)
	ctx := context.Background()
	download := func(id, timeout string) (int, []byte) {
		status, _, body := do(t, "GET", in.URL+"/_matrix/client/v1/media/download/example.org/"+id+"?timeout_ms="+timeout, aliceToken, nil, nil)
		return status, body
	}

	// Text, not random bytes (media.opaque_content refuses what looks encrypted).
	text := func(what string) []byte {
		return bytes.Repeat([]byte(what+" "+fmt.Sprintf("%x", testenv.Random(8))+"\n"), 2000)
	}
	first := text("clean with both engines")
	up, err := cli.UploadBytes(ctx, first, "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	if status, body := download(up.ContentURI.FileID, "30000"); status != 200 || !bytes.Equal(body, first) {
		t.Fatalf("download with both engines up: %d %.300s", status, body)
	}

	readyz := func() string {
		_, _, body := do(t, "GET", in.Admin+"/readyz", "", nil, nil)
		return string(body)
	}
	if r := readyz(); !strings.Contains(r, "engine cicap: ok\n") {
		t.Fatalf("/readyz with c-icap up:\n%s", r)
	}

	icap.Stop()
	second := text("uploaded while c-icap is down")
	up2, err := cli.UploadBytes(ctx, second, "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	status, body := download(up2.ContentURI.FileID, "3000")
	if code, _ := errcode(t, body); status != 504 || code != "M_NOT_YET_UPLOADED" {
		t.Fatalf("download with c-icap down: %d %s, want 504 M_NOT_YET_UPLOADED (nothing served)", status, body)
	}
	if r := readyz(); strings.Contains(r, "engine cicap: ok") || !strings.Contains(r, "engine cicap: ") {
		t.Fatalf("/readyz with c-icap down does not name it:\n%s", r)
	}

	icap.Start()
	// The job is retried with backoff; each download waits up to
	// media.max_download_wait (30 s) for the verdict.
	for try := 1; ; try++ {
		status, body := download(up2.ContentURI.FileID, "30000")
		if status == 200 && bytes.Equal(body, second) {
			break
		}
		if status != 504 || try == 4 {
			t.Fatalf("download after c-icap came back (try %d): %d %.200s", try, status, body)
		}
	}
}
