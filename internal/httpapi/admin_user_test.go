package httpapi

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/review"
)

// TestUserMediaSaysWhatItLeavesOut: for an uploader with more media than
// review.MaxUploaderItems, the API lists that many and counts the rest in
// items_omitted, and the page (German by default) says it shows the newest of them.
func TestUserMediaSaysWhatItLeavesOut(t *testing.T) {
	f := newAdminFixture(t, false)
	ctx := t.Context()
	const user, extra = "@many:example.org", 5
	t0 := time.Now().Add(-time.Hour)
	for i := range review.MaxUploaderItems + extra {
		rec := media.NewPending("example.org", media.NewMediaID(), user, t0.Add(time.Duration(i)*time.Millisecond),
			media.Content{Size: 10, SHA256: fmt.Sprintf("%064x", i+1), BlobKey: "media/x"})
		if _, err := f.cat.Create(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	c := noRedirect()
	resp, body := call(t, c, "GET", f.srv.URL+AdminAPIPrefix+"/users/"+user+"/media", f.hs.Token("officer"), "")
	var got struct {
		Items        []review.Entry `json:"items"`
		ItemsOmitted int            `json:"items_omitted"`
		Usage        review.Usage   `json:"usage"`
	}
	if resp.StatusCode != 200 {
		t.Fatalf("user media: %d %s", resp.StatusCode, body)
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Items) != review.MaxUploaderItems || got.ItemsOmitted != extra || got.Usage.Count != review.MaxUploaderItems+extra {
		t.Fatalf("user media: %d items, %d omitted, usage %+v", len(got.Items), got.ItemsOmitted, got.Usage)
	}

	oc, _, _ := f.login(t, "officer", "pw-officer")
	_, page := call(t, oc, "GET", f.srv.URL+"/officers/users?user="+url.QueryEscape(user), "", "")
	if want := fmt.Sprintf("Die neuesten %d von %d Medien.", review.MaxUploaderItems, review.MaxUploaderItems+extra); !strings.Contains(page, want) {
		t.Fatalf("the page does not say %q:\n%s", want, page)
	}
}
