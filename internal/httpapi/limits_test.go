package httpapi

import (
	"errors"
	"testing"

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
