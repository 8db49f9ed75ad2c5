package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// uploadAs uploads a small text file and returns the status and content URI.
func (f *publicFixture) uploadAs(t *testing.T, token, query string) (int, string, string) {
	t.Helper()
	status, _, body := f.do(t, "POST", "/_matrix/media/v3/upload?filename=a.txt"+query, token, []byte("hello, puppet"))
	var out struct {
		ContentURI string `json:"content_uri"`
	}
	_ = json.Unmarshal([]byte(body), &out)
	return status, out.ContentURI, body
}

// TestAppServiceActsForPuppets: a bridge uploading for a puppet with
// ?user_id= is checked by the homeserver (whoami with the same user_id,
// the application-service rule) and the upload is recorded as the
// puppet's; a user outside the bridge's namespace, and a plain user's
// token asserting someone else, are refused (issue 14, item 20).
func TestAppServiceActsForPuppets(t *testing.T) {
	f := newPublicFixture(t, fixtureOptions{})
	bridge := f.hs.AppService("bridgebot", "bridge_")
	status, uri, body := f.uploadAs(t, bridge, "&user_id=%40bridge_alice%3Aexample.org")
	if status != http.StatusOK {
		t.Fatalf("upload for a puppet: %d %s", status, body)
	}
	rec, err := f.svc.Lookup(context.Background(), "example.org", uri[strings.LastIndex(uri, "/")+1:])
	if err != nil {
		t.Fatal(err)
	}
	if rec.Uploader != "@bridge_alice:example.org" {
		t.Fatalf("the puppet's upload is recorded as %s's", rec.Uploader)
	}
	if status, _, body := f.uploadAs(t, bridge, "&user_id=%40alice%3Aexample.org"); status != http.StatusForbidden || !strings.Contains(body, "M_FORBIDDEN") {
		t.Fatalf("the bridge acting for a user outside its namespace: %d %s, want 403", status, body)
	}
	if status, _, body := f.uploadAs(t, f.hs.Token("mallory"), "&user_id=%40alice%3Aexample.org"); status != http.StatusForbidden {
		t.Fatalf("a plain user's token asserting another user: %d %s, want 403", status, body)
	}
	if status, uri, body := f.uploadAs(t, bridge, ""); status != http.StatusOK {
		t.Fatalf("the bridge for itself: %d %s", status, body)
	} else if rec, err := f.svc.Lookup(context.Background(), "example.org", uri[strings.LastIndex(uri, "/")+1:]); err != nil || rec.Uploader != "@bridgebot:example.org" {
		t.Fatalf("the bridge's own upload: %+v %v", rec.Uploader, err)
	}
}

// TestGuestsDownloadButDoNotUpload: guests may download (MSC4189); their
// uploads are refused unless auth.guest_uploads is on (issue 14, item 21).
func TestGuestsDownloadButDoNotUpload(t *testing.T) {
	f := newPublicFixture(t, fixtureOptions{})
	_, uri, body := f.uploadAs(t, f.hs.Token("alice"), "")
	if uri == "" {
		t.Fatalf("alice's upload: %s", body)
	}
	guest := f.hs.GuestToken("visitor")
	if status, _, body := f.do(t, "GET", "/_matrix/client/v1/media/download/example.org/"+uri[strings.LastIndex(uri, "/")+1:], guest, nil); status != http.StatusOK || body != "hello, puppet" {
		t.Fatalf("a guest's download: %d %s", status, body)
	}
	if status, _, body := f.uploadAs(t, guest, ""); status != http.StatusForbidden || !strings.Contains(body, "M_GUEST_ACCESS_FORBIDDEN") {
		t.Fatalf("a guest's upload: %d %s, want 403 M_GUEST_ACCESS_FORBIDDEN", status, body)
	}
	if status, _, body := f.do(t, "POST", "/_matrix/media/v1/create", guest, nil); status != http.StatusForbidden {
		t.Fatalf("a guest's create: %d %s, want 403", status, body)
	}
	open := newPublicFixture(t, fixtureOptions{api: func(o *Options) { o.GuestUploads = true }})
	if status, _, body := open.uploadAs(t, open.hs.GuestToken("visitor"), ""); status != http.StatusOK {
		t.Fatalf("a guest's upload with guest_uploads on: %d %s", status, body)
	}
}
