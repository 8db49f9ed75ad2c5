package catalogtest

import (
	"context"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
)

// testIntents: upload intents and purge marks round-trip with every
// field, are listed by age, replaced by key and removed.
func testIntents(t *testing.T, c catalog.Catalog) {
	ctx := context.Background()
	upload := catalog.Intent{BlobKey: "media/up1", Origin: "example.org", ID: "up1", SHA256: shaA, CreatedAt: t0}
	purge := catalog.Intent{BlobKey: media.ThumbnailSet(shaB), SHA256: shaB, CreatedAt: t0.Add(time.Minute), Purge: true}
	for _, in := range []catalog.Intent{upload, purge} {
		if err := c.PutIntent(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	list := func(before time.Time) map[string]catalog.Intent {
		t.Helper()
		got := map[string]catalog.Intent{}
		if err := c.ListIntents(ctx, before, func(in catalog.Intent) error {
			got[in.BlobKey] = in
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	got := list(time.Time{})
	for _, want := range []catalog.Intent{upload, purge} {
		g, ok := got[want.BlobKey]
		if !ok || g.Origin != want.Origin || g.ID != want.ID || g.SHA256 != want.SHA256 || g.Purge != want.Purge || !g.CreatedAt.Equal(want.CreatedAt) {
			t.Fatalf("intent %s listed as %+v (found %v), want %+v", want.BlobKey, g, ok, want)
		}
	}
	if got := list(t0.Add(30 * time.Second)); len(got) != 1 || got[upload.BlobKey].BlobKey == "" {
		t.Fatalf("intents before %s: %+v, want only the older one", t0.Add(30*time.Second), got)
	}
	upload.Purge = true
	if err := c.PutIntent(ctx, upload); err != nil {
		t.Fatal(err)
	}
	if got := list(time.Time{}); !got[upload.BlobKey].Purge {
		t.Fatalf("intent not replaced: %+v", got[upload.BlobKey])
	}
	for _, k := range []string{upload.BlobKey, purge.BlobKey, "media/never"} {
		if err := c.DeleteIntent(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if got := list(time.Time{}); len(got) != 0 {
		t.Fatalf("intents after removal: %+v", got)
	}
}
