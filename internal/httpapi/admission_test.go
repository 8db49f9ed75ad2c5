package httpapi

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/service"
)

// stalledUpload starts an upload of unknown size whose body sends a few
// bytes and then waits; closing the returned writer ends it.
func stalledUpload(t *testing.T, f *publicFixture, token string) *io.PipeWriter {
	t.Helper()
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", f.srv.URL+"/_matrix/media/v3/upload", pr)
	req.Header.Set("Authorization", "Bearer "+token)
	go func() {
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	if _, err := pw.Write([]byte("slow...")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the upload is admitted and streaming
	t.Cleanup(func() { pw.Close() })
	return pw
}

// TestUploadsBoundedByMemoryBudget: uploads (and remote fetches) in
// flight are admitted against a memory budget by what the store buffers
// for them, and each user has a bound of uploads in flight; past either,
// a new upload is refused at once with 429 and Retry-After instead of
// allocating another buffer (issue 14, item 8).
func TestUploadsBoundedByMemoryBudget(t *testing.T) {
	f := newPublicFixture(t, fixtureOptions{service: func(o *service.Options) {
		o.Buffering = service.Buffering{SinglePut: 64 << 10, Known: 8 << 20, Unknown: 2 << 20}
		o.MemoryBudget = 2<<20 + 256<<10 // one unknown-size upload and one small one
		o.MaxUploadsPerUser = 1
	}})
	alice, bob, carol := f.hs.Token("alice"), f.hs.Token("bob"), f.hs.Token("carol")
	stalledUpload(t, f, alice)
	refused := func(name, token string, body io.Reader, wantStatus int) {
		t.Helper()
		req, _ := http.NewRequest("POST", f.srv.URL+"/_matrix/media/v3/upload", body)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != wantStatus {
			t.Fatalf("%s: %d %s, want %d", name, resp.StatusCode, b, wantStatus)
		}
		if wantStatus == http.StatusTooManyRequests && (resp.Header.Get("Retry-After") == "" || !strings.Contains(string(b), "M_LIMIT_EXCEEDED")) {
			t.Fatalf("%s: 429 without Retry-After: %v %s", name, resp.Header, b)
		}
	}
	refused("alice's second upload while one is in flight", alice, strings.NewReader("small"), http.StatusTooManyRequests)
	refused("bob's upload of unknown size over the budget", bob, io.MultiReader(strings.NewReader("x"), strings.NewReader("y")), http.StatusTooManyRequests)
	refused("bob's small upload within the budget", bob, strings.NewReader("small"), http.StatusOK)
	big := strings.Repeat("z", 100<<10)
	refused("carol's upload of known size over one part", carol, strings.NewReader(big), http.StatusTooManyRequests)
}
