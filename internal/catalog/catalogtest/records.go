package catalogtest

import (
	"errors"
	"reflect"
	"sync"
	"testing"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
)

func testCreateGetUpdate(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	rec := pending("example.org", "abc", alice, shaA)
	rev := mustCreate(t, c, rec)
	_, err := c.Create(ctx, rec)
	wantErr(t, "second Create", err, media.ErrExists)
	got, gotRev, err := c.Get(ctx, "example.org", "abc")
	if err != nil || gotRev != rev {
		t.Fatalf("Get = rev %d, %v; want rev %d", gotRev, err, rev)
	}
	if !reflect.DeepEqual(got, rec) {
		t.Fatalf("round trip changed the record:\n got %+v\nwant %+v", got, rec)
	}
	next, err := got.Apply(verdict(media.VerdictClean, t0.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	rev2, err := c.Update(ctx, next, rev)
	if err != nil || rev2 <= rev {
		t.Fatalf("Update = %d, %v; want a revision above %d", rev2, err, rev)
	}
	// A writer that read revision rev loses: compare-and-set.
	q, _ := got.Apply(media.Change{Transition: media.Quarantine, At: t0.Add(2), Actor: officer, Reason: "r"})
	_, err = c.Update(ctx, q, rev)
	wantErr(t, "Update at a stale revision", err, media.ErrConflict)
	got, gotRev, _ = c.Get(ctx, "example.org", "abc")
	if got.State != media.StateClean || gotRev != rev2 {
		t.Fatalf("after the lost update: %s at %d, want clean at %d", got.State, gotRev, rev2)
	}
	_, err = c.Update(ctx, pending("example.org", "nope", alice, shaA), 1)
	wantErr(t, "Update of a missing record", err, media.ErrNotFound)
	_, _, err = c.Get(ctx, "example.org", "nope")
	wantErr(t, "Get of a missing record", err, media.ErrNotFound)
}

func testInvalidKeys(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	for _, tt := range []struct {
		origin, id string
		want       error
	}{
		{"bad server!", "abc", media.ErrInvalidServerName},
		{"example.org", "../etc", media.ErrInvalidID},
		{"example.org", "", media.ErrInvalidID},
	} {
		_, _, err := c.Get(ctx, tt.origin, tt.id)
		wantErr(t, "Get "+tt.origin+"/"+tt.id, err, tt.want)
		_, err = c.Create(ctx, pending(tt.origin, tt.id, alice, shaA))
		wantErr(t, "Create "+tt.origin+"/"+tt.id, err, tt.want)
		_, err = c.WaitFor(ctx, tt.origin, tt.id, func(media.Record) bool { return true })
		wantErr(t, "WaitFor "+tt.origin+"/"+tt.id, err, tt.want)
	}
	_, err := c.ByHash(ctx, "nothex")
	wantErr(t, "ByHash", err, media.ErrInvalidID)
	_, err = byUploader(ctx, c, "alice")
	wantErr(t, "ByUploader", err, media.ErrInvalidUserID)
	_, _, err = c.GetBlob(ctx, "ABC")
	wantErr(t, "GetBlob", err, media.ErrInvalidID)
	err = c.ListByState(ctx, "nope", func(catalog.Entry) error { return nil })
	wantErr(t, "ListByState", err, media.ErrInvalidTransition)
	bad := pending("example.org", "s", alice, shaA)
	bad.State = "nope"
	_, err = c.Create(ctx, bad)
	wantErr(t, "Create in an unknown state", err, media.ErrInvalidTransition)
}

func testModify(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	mustCreate(t, c, pending("example.org", "x", alice, shaA))
	// A writer that always loses: fn itself changes the record first.
	_, _, err := c.Modify(ctx, "example.org", "x", func(r *media.Record) error {
		_, _, err := c.Modify(ctx, "example.org", "x", func(inner *media.Record) error { inner.Size++; return nil })
		return err
	})
	wantErr(t, "Modify racing itself", err, media.ErrConflict)
	boom := errors.New("boom")
	_, _, err = c.Modify(ctx, "example.org", "x", func(*media.Record) error { return boom })
	wantErr(t, "Modify with a failing fn", err, boom)
	_, _, err = c.Modify(ctx, "example.org", "x", func(r *media.Record) error { r.ID = "y"; return nil })
	wantErr(t, "Modify changing the ID", err, media.ErrInvalidID)
	_, _, err = c.Modify(ctx, "example.org", "missing", func(*media.Record) error { return nil })
	wantErr(t, "Modify of a missing record", err, media.ErrNotFound)
	// The officer's decision and the worker's stale verdict: the state
	// machine refuses the stale one, nothing changes.
	rec, _, _ := c.Get(ctx, "example.org", "x")
	mustApply(t, c, rec, media.Change{Transition: media.Quarantine, At: t0.Add(1), Actor: officer, Reason: "looks bad"})
	_, _, err = catalog.Apply(ctx, c, "example.org", "x", verdict(media.VerdictClean, t0.Add(2)))
	if err == nil {
		t.Fatal("a clean verdict overwrote an officer's quarantine")
	}
	got, _, _ := c.Get(ctx, "example.org", "x")
	if got.State != media.StateQuarantined {
		t.Fatalf("state %s after the refused verdict, want quarantined", got.State)
	}
}

func testModifyConcurrent(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	mustCreate(t, c, pending("example.org", "counter", alice, shaA))
	const writers, each = 8, 5
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for range writers {
		wg.Go(func() {
			for range each {
				_, _, err := c.Modify(ctx, "example.org", "counter", func(r *media.Record) error {
					r.Size++
					return nil
				})
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got, _, _ := c.Get(ctx, "example.org", "counter")
	if got.Size != 3+writers*each {
		t.Fatalf("size %d after %d concurrent increments of 3, want %d: an update was lost", got.Size, writers*each, 3+writers*each)
	}
}

func testDelete(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	rec := pending("remote.example", "cached", "", shaA)
	rec.Remote = true
	rev := mustCreate(t, c, rec)
	_, rev2 := mustApply(t, c, rec, verdict(media.VerdictClean, t0.Add(1)))
	wantErr(t, "Delete at a stale revision", c.Delete(ctx, "remote.example", "cached", rev), media.ErrConflict)
	if _, _, err := c.Get(ctx, "remote.example", "cached"); err != nil {
		t.Fatalf("the record went after a lost delete: %v", err)
	}
	if err := c.Delete(ctx, "remote.example", "cached", rev2); err != nil {
		t.Fatal(err)
	}
	_, _, err := c.Get(ctx, "remote.example", "cached")
	wantErr(t, "Get after Delete", err, media.ErrNotFound)
	wantErr(t, "second Delete", c.Delete(ctx, "remote.example", "cached", rev2), media.ErrNotFound)
	if got, err := c.ByHash(ctx, shaA); err != nil || len(got) != 0 {
		t.Fatalf("ByHash after Delete = %v, %v", ids(got), err)
	}
	// Fetched again: the key is free; revisions never repeat.
	rev3 := mustCreate(t, c, rec)
	if rev3 <= rev2 {
		t.Fatalf("revision %d after re-create, not above %d", rev3, rev2)
	}
	if got, err := c.ByHash(ctx, shaA); err != nil || len(got) != 1 || got[0].Record.State != media.StatePending {
		t.Fatalf("ByHash after re-create = %v, %v", ids(got), err)
	}
}

func testOddKeys(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	for i, tt := range []struct{ origin, user string }{
		{"matrix.example.org:8448", "@a.b=c/d:matrix.example.org:8448"},
		{"[2001:db8::1]:8448", "@x:[2001:db8::1]:8448"},
		{"1.2.3.4", "@UPPER_lower-1:1.2.3.4"},
	} {
		id := "odd-" + string(rune('a'+i))
		mustCreate(t, c, pending(tt.origin, id, tt.user, shaB))
		got, _, err := c.Get(ctx, tt.origin, id)
		if err != nil || got.Origin != tt.origin || got.Uploader != tt.user {
			t.Fatalf("Get %s/%s = %+v, %v", tt.origin, id, got, err)
		}
		byUser, err := byUploader(ctx, c, tt.user)
		if err != nil || len(byUser) != 1 || byUser[0].Record.ID != id {
			t.Fatalf("ByUploader %s = %v, %v", tt.user, ids(byUser), err)
		}
	}
	if got, err := c.ByHash(ctx, shaB); err != nil || len(got) != 3 {
		t.Fatalf("ByHash = %v, %v", ids(got), err)
	}
}
