package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/media"
)

func TestLimitersPerUser(t *testing.T) {
	l := newLimiters(0.5, 3) // a token every 2 s, bursts of 3
	for i := 0; i < 3; i++ {
		if err := l.allow("@a:example.org"); err != nil {
			t.Fatalf("request %d within the burst: %v", i, err)
		}
	}
	err := l.allow("@a:example.org")
	if !errors.Is(err, media.ErrLimitExceeded) {
		t.Fatalf("over the burst: %v", err)
	}
	var ra retryAfterError
	if !errors.As(err, &ra) || ra.after < 1 || ra.after > 3 {
		t.Fatalf("Retry-After %+v, want 1..3 s", ra)
	}
	api := lookup(err)
	if api.status != 429 || api.errcode != "M_LIMIT_EXCEEDED" {
		t.Fatalf("answered %+v", api)
	}
	if err := l.allow("@b:example.org"); err != nil {
		t.Fatalf("another user has his own bucket: %v", err)
	}
}

// slowReader yields one byte per read, each after a pause.
type slowReader struct{ pause time.Duration }

func (s slowReader) Read(p []byte) (int, error) {
	time.Sleep(s.pause)
	p[0] = 'x'
	return 1, nil
}

func TestMinRateBodyCutsSlowClients(t *testing.T) {
	b := &minRateBody{ReadCloser: io.NopCloser(slowReader{20 * time.Millisecond}),
		rc: http.NewResponseController(httptest.NewRecorder()), min: 1000, grace: 50 * time.Millisecond, start: time.Now()}
	_, err := io.Copy(io.Discard, b)
	if !errors.Is(err, errTooSlow) {
		t.Fatalf("a body at 50 B/s with a 1000 B/s minimum: %v", err)
	}
	if api := lookup(fmt.Errorf("storing upload: %w", err)); api.status != 408 {
		t.Fatalf("a cut slow body answers %d, want 408", api.status)
	}
	fast := &minRateBody{ReadCloser: io.NopCloser(strings.NewReader(strings.Repeat("x", 1<<20))),
		rc: http.NewResponseController(httptest.NewRecorder()), min: 1000, grace: 50 * time.Millisecond, start: time.Now()}
	if n, err := io.Copy(io.Discard, fast); err != nil || n != 1<<20 {
		t.Fatalf("a fast body: %d %v", n, err)
	}
}
