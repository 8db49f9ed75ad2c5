package httpapi

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestFailedAuthLimitedPerAddress: failed token checks are rate-limited
// per client address, so junk tokens cannot make mediarepo call whoami
// without bound; valid tokens already cached keep working from that
// address (issue 14, item 14).
func TestFailedAuthLimitedPerAddress(t *testing.T) {
	f := newPublicFixture(t, fixtureOptions{api: func(o *Options) { o.FailedAuthPerSecond, o.FailedAuthBurst = 0.01, 3 }})
	alice := f.hs.Token("alice")
	if status, _, body := f.do(t, "GET", "/_matrix/client/v1/media/config", alice, nil); status != http.StatusOK {
		t.Fatalf("alice: %d %s", status, body)
	}
	calls := f.hs.WhoamiCalls()
	limited := 0
	for i := 0; i < 20; i++ {
		status, h, body := f.do(t, "GET", "/_matrix/client/v1/media/config", "junk-"+strconv.Itoa(i), nil)
		switch {
		case status == http.StatusUnauthorized:
		case status == http.StatusTooManyRequests && h.Get("Retry-After") != "" && strings.Contains(body, "M_LIMIT_EXCEEDED"):
			limited++
		default:
			t.Fatalf("junk token %d: %d %s", i, status, body)
		}
	}
	if got := f.hs.WhoamiCalls() - calls; got != 3 || limited != 17 {
		t.Fatalf("20 junk tokens cost %d whoami calls and %d were limited; want 3 and 17", got, limited)
	}
	if status, _, body := f.do(t, "GET", "/_matrix/client/v1/media/config", alice, nil); status != http.StatusOK {
		t.Fatalf("alice's cached token from the same address: %d %s", status, body)
	}
	if status, _, _ := f.do(t, "GET", "/_matrix/client/v1/media/config", f.hs.Token("bob"), nil); status != http.StatusTooManyRequests {
		t.Fatalf("a token not yet known from a limited address: %d, want 429 (fail closed)", status)
	}
}
