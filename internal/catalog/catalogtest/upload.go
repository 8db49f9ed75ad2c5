package catalogtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
)

func testRecordUpload(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	at := t0.Add(time.Second)
	first := pending("example.org", "u1", alice, shaA)
	st, err := c.RecordUpload(ctx, catalog.Upload{Record: first, At: at})
	if err != nil || st.Unused != "" || st.Record.BlobKey != "blobs/u1" || st.Revision == 0 {
		t.Fatalf("new content: %+v, %v", st, err)
	}
	if got, rev, err := c.Get(ctx, "example.org", "u1"); err != nil || rev != st.Revision || got.BlobKey != "blobs/u1" {
		t.Fatalf("stored record %+v at %d, %v", got, rev, err)
	}
	if b, _, err := c.GetBlob(ctx, shaA); err != nil || b.RefCount != 1 || b.BlobKey != "blobs/u1" || b.Size != 3 {
		t.Fatalf("blob record %+v, %v", b, err)
	}
	// The same content again shares the stored blob: the caller's own
	// copy is unused.
	st, err = c.RecordUpload(ctx, catalog.Upload{Record: pending("example.org", "u2", bob, shaA), At: at})
	if err != nil || st.Record.BlobKey != "blobs/u1" || st.Unused != "blobs/u2" {
		t.Fatalf("duplicate content: %+v, %v", st, err)
	}
	if b, _, _ := c.GetBlob(ctx, shaA); b.RefCount != 2 {
		t.Fatalf("ref count %d after two uploads, want 2", b.RefCount)
	}
	// An async upload fills its reservation at its revision.
	res := media.NewReserved("example.org", "u3", alice, t0, t0.Add(time.Hour))
	rev := mustCreate(t, c, res)
	filled, err := res.Apply(media.Change{Transition: media.Upload, At: at, Actor: alice,
		Content: &media.Content{Size: 3, SHA256: shaB, BlobKey: "blobs/u3"}})
	if err != nil {
		t.Fatal(err)
	}
	st, err = c.RecordUpload(ctx, catalog.Upload{Record: filled, Revision: rev, At: at})
	if err != nil || st.Revision <= rev || st.Record.State != media.StatePending {
		t.Fatalf("async upload: %+v, %v", st, err)
	}
	_, err = c.RecordUpload(ctx, catalog.Upload{Record: filled, Revision: rev, At: at})
	wantErr(t, "second async upload at the old revision", err, media.ErrConflict)
	if b, _, _ := c.GetBlob(ctx, shaB); b.RefCount != 1 {
		t.Fatalf("ref count %d after a lost async upload, want 1 (the reference is given back)", b.RefCount)
	}
	// A media ID that exists: nothing kept, the reference given back.
	again := pending("example.org", "u1", alice, shaA)
	again.BlobKey = "blobs/u1-again"
	st, err = c.RecordUpload(ctx, catalog.Upload{Record: again, At: at})
	wantErr(t, "upload onto an existing ID", err, media.ErrExists)
	if b, _, _ := c.GetBlob(ctx, shaA); b.RefCount != 2 {
		t.Fatalf("ref count %d after a refused upload, want 2", b.RefCount)
	}
	if st.Unused != "blobs/u1-again" {
		t.Fatalf("a refused upload of its own blob: Unused %q, want its key", st.Unused)
	}
}

func testRecordUploadRefusals(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	at := t0.Add(time.Second)
	blocked := media.NewBlob(shaA, "blobs/old", 3, t0).Block("infected", t0)
	if _, err := c.CreateBlob(ctx, blocked); err != nil {
		t.Fatal(err)
	}
	st, err := c.RecordUpload(ctx, catalog.Upload{Record: pending("example.org", "x1", alice, shaA), At: at})
	wantErr(t, "upload of a blocked hash", err, media.ErrHashBlocked)
	if st.Unused != "blobs/x1" {
		t.Fatalf("blocked upload: Unused %q, want the caller's blob", st.Unused)
	}
	if _, _, err := c.Get(ctx, "example.org", "x1"); err == nil {
		t.Fatal("a blocked upload got a record")
	}
	// A quarantined blob is not shared: the upload keeps its own blob and
	// takes no reference on the quarantined one.
	q := media.NewBlob(shaB, "quarantine/old", 3, t0).MoveTo("quarantine/old", true, t0)
	if _, err := c.CreateBlob(ctx, q); err != nil {
		t.Fatal(err)
	}
	st, err = c.RecordUpload(ctx, catalog.Upload{Record: pending("example.org", "x2", alice, shaB), At: at})
	if err != nil || st.Record.BlobKey != "blobs/x2" || st.Unused != "" {
		t.Fatalf("upload of quarantined content: %+v, %v", st, err)
	}
	if b, _, _ := c.GetBlob(ctx, shaB); b.RefCount != 1 || b.BlobKey != "quarantine/old" {
		t.Fatalf("quarantined blob record changed: %+v", b)
	}
	for _, bad := range []media.Record{
		media.NewReserved("example.org", "x3", alice, t0, t0.Add(time.Hour)),
		pending("example.org", "x4", alice, "nothex"),
		pending("bad origin", "x5", alice, shaA),
	} {
		if _, err := c.RecordUpload(ctx, catalog.Upload{Record: bad, At: at}); err == nil {
			t.Errorf("RecordUpload accepted %+v", bad)
		}
	}
}

func testRecordUploadConcurrent(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	const n = 16
	var wg sync.WaitGroup
	keys := make([]string, n)
	for i := range n {
		wg.Go(func() {
			st, err := c.RecordUpload(ctx, catalog.Upload{Record: pending("example.org", fmt.Sprintf("c%02d", i), alice, shaA), At: t0})
			if err != nil {
				t.Error(err)
				return
			}
			keys[i] = st.Record.BlobKey
		})
	}
	wg.Wait()
	b, _, err := c.GetBlob(ctx, shaA)
	if err != nil || b.RefCount != n {
		t.Fatalf("blob record after %d concurrent uploads of one content: %+v, %v", n, b, err)
	}
	for i, k := range keys {
		if k != b.BlobKey {
			t.Fatalf("upload %d uses %q, the blob record names %q", i, k, b.BlobKey)
		}
	}
}

// testRecordUploadIntents: the upload's intent goes with a successful
// write and stays after a refused one (the caller removes it after
// deleting its blob); a per-hash record naming a blob that is no longer
// stored is taken over by the upload's blob.
func testRecordUploadIntents(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	at := t0.Add(time.Second)
	intents := func() []string {
		var keys []string
		if err := c.ListIntents(ctx, time.Time{}, func(in catalog.Intent) error {
			keys = append(keys, in.BlobKey)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return keys
	}
	for _, id := range []string{"i1", "i2"} {
		if err := c.PutIntent(ctx, catalog.Intent{BlobKey: "blobs/" + id, Origin: "example.org", ID: id, CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.RecordUpload(ctx, catalog.Upload{Record: pending("example.org", "i1", alice, shaA), At: at, Intent: "blobs/i1"}); err != nil {
		t.Fatal(err)
	}
	if got := intents(); !sameSet(got, "blobs/i2") {
		t.Fatalf("intents after one recorded upload: %v, want only blobs/i2", got)
	}
	// The same media ID again: refused, its intent stays.
	again := pending("example.org", "i1", alice, shaB)
	again.BlobKey = "blobs/i2"
	if _, err := c.RecordUpload(ctx, catalog.Upload{Record: again, At: at, Intent: "blobs/i2"}); !errors.Is(err, media.ErrExists) {
		t.Fatalf("refused upload: %v", err)
	}
	if got := intents(); !sameSet(got, "blobs/i2") {
		t.Fatalf("intents after a refused upload: %v, want blobs/i2 kept", got)
	}
	// The stored blob of shaA is gone: the next upload takes its place.
	gone := func(_ context.Context, key string) (bool, error) { return key != "blobs/i1", nil }
	st, err := c.RecordUpload(ctx, catalog.Upload{Record: pending("example.org", "i3", bob, shaA), At: at, BlobStored: gone})
	if err != nil || st.Record.BlobKey != "blobs/i3" || st.Unused != "" {
		t.Fatalf("upload over a missing shared blob: %+v, %v", st, err)
	}
	if b, _, _ := c.GetBlob(ctx, shaA); b.BlobKey != "blobs/i3" || b.RefCount != 1 {
		t.Fatalf("blob record after the takeover: %+v, want blobs/i3 with one reference", b)
	}
}
