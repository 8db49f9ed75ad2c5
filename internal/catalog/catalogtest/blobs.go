package catalogtest

import (
	"sync"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
)

func testBlobs(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	b := media.NewBlob(shaA, "media/one", 3, t0)
	rev, err := c.CreateBlob(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateBlob(ctx, b)
	wantErr(t, "second CreateBlob", err, media.ErrExists)
	got, gotRev, err := c.GetBlob(ctx, shaA)
	if err != nil || gotRev != rev || got.BlobKey != "media/one" || got.RefCount != 1 {
		t.Fatalf("GetBlob = %+v at %d, %v", got, gotRev, err)
	}
	next, _ := got.AddRef(t0.Add(1))
	rev2, err := c.UpdateBlob(ctx, next, rev)
	if err != nil || rev2 <= rev {
		t.Fatalf("UpdateBlob = %d, %v", rev2, err)
	}
	_, err = c.UpdateBlob(ctx, next, rev)
	wantErr(t, "UpdateBlob at a stale revision", err, media.ErrConflict)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, _, err := c.ModifyBlob(ctx, shaA, func(b *media.Blob) error {
				n, err := b.AddRef(t0.Add(2))
				*b = n
				return err
			}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got, rev3, _ := c.GetBlob(ctx, shaA)
	if got.RefCount != 10 {
		t.Fatalf("ref count %d after 8 concurrent references on 2, want 10", got.RefCount)
	}
	_, _, err = c.ModifyBlob(ctx, shaA, func(b *media.Blob) error { b.SHA256 = shaB; return nil })
	wantErr(t, "ModifyBlob changing the hash", err, media.ErrInvalidID)
	wantErr(t, "DeleteBlob at a stale revision", c.DeleteBlob(ctx, shaA, rev2), media.ErrConflict)
	if err := c.DeleteBlob(ctx, shaA, rev3); err != nil {
		t.Fatal(err)
	}
	_, _, err = c.GetBlob(ctx, shaA)
	wantErr(t, "GetBlob after DeleteBlob", err, media.ErrNotFound)
	_, _, err = c.ModifyBlob(ctx, shaB, func(*media.Blob) error { return nil })
	wantErr(t, "ModifyBlob of a missing blob", err, media.ErrNotFound)
}

func testReleaseBlob(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	b := media.NewBlob(shaA, "media/shared", 3, t0)
	b.RefCount = 2
	if _, err := c.CreateBlob(ctx, b); err != nil {
		t.Fatal(err)
	}
	at := t0.Add(time.Minute)
	if key, err := catalog.ReleaseBlob(ctx, c, shaA, "media/private", at); err != nil || key != "media/private" {
		t.Fatalf("release of a private copy = %q, %v; want the private key", key, err)
	}
	if key, err := catalog.ReleaseBlob(ctx, c, shaA, "media/shared", at); err != nil || key != "" {
		t.Fatalf("release of one of two references = %q, %v; want nothing to delete", key, err)
	}
	if key, err := catalog.ReleaseBlob(ctx, c, shaA, "media/shared", at); err != nil || key != "media/shared" {
		t.Fatalf("release of the last reference = %q, %v; want the shared key", key, err)
	}
	_, _, err := c.GetBlob(ctx, shaA)
	wantErr(t, "blob record after its last reference", err, media.ErrNotFound)
	// A blocked hash keeps its record at zero references.
	blocked := media.NewBlob(shaB, "media/b", 3, t0).Block("infected", t0)
	if _, err := c.CreateBlob(ctx, blocked); err != nil {
		t.Fatal(err)
	}
	if key, err := catalog.ReleaseBlob(ctx, c, shaB, "media/b", at); err != nil || key != "media/b" {
		t.Fatalf("release of a blocked blob = %q, %v", key, err)
	}
	if got, _, err := c.GetBlob(ctx, shaB); err != nil || !got.Blocked || got.RefCount != 0 {
		t.Fatalf("blocked blob record = %+v, %v; want kept, blocked, no references", got, err)
	}
	if key, err := catalog.ReleaseBlob(ctx, c, strings64('c'), "media/c", at); err != nil || key != "" {
		t.Fatalf("release without a blob record = %q, %v", key, err)
	}
}

func strings64(c byte) string {
	b := make([]byte, 64)
	for i := range b {
		b[i] = c
	}
	return string(b)
}
