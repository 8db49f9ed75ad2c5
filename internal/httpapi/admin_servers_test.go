package httpapi

import (
	"net/http"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/auth"
	"github.com/mediarepo/mediarepo/internal/session/sessiontest"
)

// TestOfficerTokenGoesOnlyToItsHomeserver: with officers of two servers,
// an officer's token is checked only by the homeserver of the server the
// admin listener's Host (or the explicit server parameter) names, never
// tried at the other one (issue 14, item 16).
func TestOfficerTokenGoesOnlyToItsHomeserver(t *testing.T) {
	hsA := sessiontest.New(t, "a.org", nil)
	hsB := sessiontest.New(t, "b.org", nil)
	f := newAdminFixtureWith(t, false, func(d *AdminDeps, o *AdminOptions) {
		d.Auth = auth.NewWhoami(map[string]string{"a.org": hsA.URL, "b.org": hsB.URL}, &http.Client{Timeout: 5 * time.Second}, 0, 0)
		o.Officers = []string{"@officer:a.org", "@officer:b.org"}
		o.Hosts = map[string]string{"admin.a.org": "a.org", "admin.b.org": "b.org"}
	})
	tokB := hsB.Token("officer")
	get := func(host, query, token string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", f.srv.URL+AdminAPIPrefix+"/whoami"+query, nil)
		req.Host = host
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if status := get("admin.b.org:8009", "", tokB); status != http.StatusOK {
		t.Fatalf("b.org's officer on b.org's admin host: %d", status)
	}
	if status := get("127.0.0.1", "?server=b.org", tokB); status != http.StatusOK {
		t.Fatalf("b.org's officer naming b.org: %d", status)
	}
	if status := get("127.0.0.1", "", tokB); status != http.StatusNotFound {
		t.Fatalf("no server chosen with two officer servers: %d, want 404", status)
	}
	if status := get("admin.a.org", "", tokB); status != http.StatusUnauthorized {
		t.Fatalf("b.org's token on a.org's admin host: %d, want 401", status)
	}
	if n := hsA.WhoamiCalls(); n != 1 {
		t.Fatalf("a.org's homeserver saw %d whoami calls; want exactly the one for a.org's host", n)
	}
	if n := hsB.WhoamiCalls(); n != 2 {
		t.Fatalf("b.org's homeserver saw %d whoami calls, want 2", n)
	}
}
