package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/mediarepo/mediarepo/internal/sealed"
	"github.com/mediarepo/mediarepo/internal/service"
)

// TestTamperedBlobIsNeverServedWhole flips one bit of stored media, in a
// small blob, in the serially copied first MiB of a large one and in its
// pipelined rest: a download may already have sent its headers, but it
// never completes; what arrives is a prefix of the content, and the
// untouched media stays servable.
func TestTamperedBlobIsNeverServedWhole(t *testing.T) {
	f := newPublicFixture(t, fixtureOptions{service: func(o *service.Options) { o.MaxUploadSize = 4 << 20 }})
	token := f.hs.Token("alice")
	cases := []struct {
		name       string
		size, flip int // flip: plaintext offset of the segment whose byte is flipped
	}{
		{"10 KB", 10_000, 0},
		{"3 MiB, first MiB", 3 << 20, 300 << 10},
		{"3 MiB, pipelined part", 3 << 20, 5<<19 + 7},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := make([]byte, c.size)
			_, _ = rand.Read(data)
			status, _, body := f.do(t, "POST", "/_matrix/media/v3/upload?filename=x.bin", token, data)
			if status != http.StatusOK {
				t.Fatalf("upload: %d %s", status, body)
			}
			var out struct {
				ContentURI string `json:"content_uri"`
			}
			if err := json.Unmarshal([]byte(body), &out); err != nil {
				t.Fatal(err)
			}
			path := "/_matrix/client/v1/media/download/" + strings.TrimPrefix(out.ContentURI, "mxc://")
			if got, err := f.download(t, path, token); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("before tampering: %d bytes, %v", len(got), err)
			}
			id := out.ContentURI[strings.LastIndex(out.ContentURI, "/")+1:]
			rec, err := f.svc.Lookup(context.Background(), "example.org", id)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			rc, err := f.raw.Get(ctx, rec.BlobKey, 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			stored, err := io.ReadAll(rc)
			_ = rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			seg := c.flip / sealed.SegmentSize
			stored[sealed.HeaderSize+seg*(sealed.SegmentSize+32)+16+c.flip%sealed.SegmentSize] ^= 1
			if err := f.raw.Put(ctx, rec.BlobKey, bytes.NewReader(stored), int64(len(stored))); err != nil {
				t.Fatal(err)
			}
			got, err := f.download(t, path, token)
			if err == nil {
				t.Fatalf("a tampered blob was served whole (%d bytes)", len(got))
			}
			if len(got) > seg*sealed.SegmentSize || !bytes.Equal(got, data[:len(got)]) {
				t.Fatalf("%d bytes arrived (the bad segment starts at %d), or bytes that differ", len(got), seg*sealed.SegmentSize)
			}
		})
	}
}

// download GETs path and returns the body, with an error unless the
// answer is a 200 whose body arrived complete.
func (f *publicFixture) download(t *testing.T, path, token string) ([]byte, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = &statusError{resp.StatusCode}
	}
	return body, err
}

type statusError struct{ code int }

func (e *statusError) Error() string { return http.StatusText(e.code) }
