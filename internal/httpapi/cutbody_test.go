package httpapi

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/storage"
)

// TestUploadBodyCut: a client whose connection ends in the middle of an
// upload's body (declared 64 KiB, 5 000 bytes sent, then its half of the
// connection closed, as a proxy whose client died does) gets 400 M_UNKNOWN,
// never 500 (it was answered 500: the body's read error came back through
// the store as a server fault), and nothing of the upload is left: no
// blob, no intent. Both the upload and the upload to a created ID.
func TestUploadBodyCut(t *testing.T) {
	f := newPublicFixture(t, fixtureOptions{})
	token := f.hs.Token("alice")
	for _, path := range []string{"/_matrix/media/v3/upload?filename=cut.txt", "create"} {
		if path == "create" {
			status, _, body := f.do(t, "POST", "/_matrix/media/v1/create", token, nil)
			if status != http.StatusOK {
				t.Fatalf("create: %d %s", status, body)
			}
			var id string
			if _, err := fmt.Sscanf(body[strings.Index(body, "mxc://example.org/")+len("mxc://example.org/"):], "%24s", &id); err != nil {
				t.Fatalf("create answered %s: %v", body, err)
			}
			path = "/_matrix/media/v3/upload/example.org/" + id
		}
		method := "POST"
		if strings.Contains(path, "/upload/example.org/") {
			method = "PUT"
		}
		conn, err := net.Dial("tcp", f.srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: example.org\r\nAuthorization: Bearer %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n",
			method, path, token, 64<<10)
		if _, err := io.WriteString(conn, strings.Repeat("cut off ", 625)); err != nil {
			t.Fatal(err)
		}
		if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s %s with its body cut: no answer: %v", method, path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		conn.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"errcode":"M_UNKNOWN"`) {
			t.Fatalf("%s %s with its body cut: %d %s, want 400 M_UNKNOWN", method, path, resp.StatusCode, body)
		}
	}
	ctx := context.Background()
	if err := f.blobs.List(ctx, "", func(in storage.Info) error {
		t.Errorf("blob %s (%d bytes) left by a cut upload", in.Key, in.Size)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := f.cat.ListIntents(ctx, time.Time{}, func(in catalog.Intent) error {
		t.Errorf("intent %+v left by a cut upload", in)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(f.logs.String(), `"status":500`) {
		t.Errorf("a cut body was logged as a server error:\n%s", f.logs.String())
	}
}
