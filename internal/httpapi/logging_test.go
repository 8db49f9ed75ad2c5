package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/media"
)

// TestClientTimeoutLoggedAsInfo: a download that ends 504 because the
// client's own timeout_ms ran out before the verdict is an expected
// answer: logged at info with its request ID, never as an error (issue
// 14, item 22).
func TestClientTimeoutLoggedAsInfo(t *testing.T) {
	f := newPublicFixture(t, fixtureOptions{})
	pending := f.record(t, "example.org", time.Now(), media.StatePending)
	status, h, body := f.do(t, "GET", "/_matrix/client/v1/media/download/example.org/"+pending.ID+"?timeout_ms=50", f.hs.Token("alice"), nil)
	if status != http.StatusGatewayTimeout || !strings.Contains(body, "M_NOT_YET_UPLOADED") {
		t.Fatalf("%d %s, want 504 M_NOT_YET_UPLOADED", status, body)
	}
	logs := f.logs.String()
	if strings.Contains(logs, `"level":"ERROR"`) {
		t.Fatalf("a client-chosen timeout logged as an error:\n%s", logs)
	}
	id := h.Get("X-Request-Id")
	if !strings.Contains(logs, `"level":"INFO"`) || !strings.Contains(logs, id) {
		t.Fatalf("no info line with request ID %s:\n%s", id, logs)
	}
}

// TestErrorBodiesHideInternals: clients get a short stable message; the
// homeserver's internal URL, a remote server's URL and network errors,
// storage and record keys go only to the log, with the request ID
// (issue 14, item 19).
func TestErrorBodiesHideInternals(t *testing.T) {
	failing := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(failing.Close)
	peer := &stallingPeer{srv: failing}
	f := newPublicFixture(t, fixtureOptions{remote: withPeer(peer)})
	tok := f.hs.Token("alice")
	noBlob := f.record(t, "example.org", time.Now(), media.StateClean)
	check := func(name, path string, wantStatus int, secrets ...string) {
		t.Helper()
		status, h, body := f.do(t, "GET", path, tok, nil)
		if status != wantStatus {
			t.Errorf("%s: %d %s, want %d", name, status, body, wantStatus)
		}
		for _, s := range secrets {
			if strings.Contains(body, s) {
				t.Errorf("%s: the body shows %q: %s", name, s, body)
			}
		}
		if id := h.Get("X-Request-Id"); !strings.Contains(f.logs.String(), id) {
			t.Errorf("%s: nothing logged with request ID %s", name, id)
		}
	}
	check("remote server failed", "/_matrix/client/v1/media/download/"+peer.name()+"/abc", http.StatusBadGateway,
		"https://", "_matrix/federation", "status", "500")
	check("missing blob", "/_matrix/client/v1/media/download/example.org/"+noBlob.ID, http.StatusServiceUnavailable,
		"media/none", noBlob.SHA256)
	hsAddr := strings.TrimPrefix(f.hs.URL, "http://")
	f.hs.Close()
	tok = "not-in-the-cache"
	check("homeserver unreachable", "/_matrix/client/v1/media/download/example.org/"+noBlob.ID, http.StatusBadGateway,
		hsAddr, "whoami", "connection refused")
	if !strings.Contains(f.logs.String(), hsAddr) {
		t.Errorf("the log lacks the homeserver detail:\n%s", f.logs.String())
	}
}
