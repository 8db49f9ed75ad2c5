package catalogtest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
)

// testListCleanByUpload: clean records with an upload time from Since on,
// oldest first (ties by origin and ID), page by page from a cursor; other
// states and records leaving clean are not listed.
func testListCleanByUpload(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	base := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Hour).Add(7*time.Minute + 123456789)
	type item struct {
		origin, id string
		at         time.Duration
		end        media.Transition // VerdictClean, VerdictInfected or "" (pending)
	}
	items := []item{
		{"example.org", "old", 0, media.VerdictClean}, // before Since
		{"example.org", "a1", 20 * time.Minute, media.VerdictClean},
		{"example.org", "a2", 20 * time.Minute, media.VerdictClean}, // same time: by ID
		{"a.example", "a3", 20 * time.Minute, media.VerdictClean},   // same time: origin first
		{"example.org", "p1", 30 * time.Minute, ""},
		{"example.org", "q1", 40 * time.Minute, media.VerdictInfected},
		{"example.org", "b1", 70 * time.Minute, media.VerdictClean}, // next hour
		{"example.org", "b2", 130 * time.Minute, media.VerdictClean},
		{"example.org", "gone", 140 * time.Minute, media.VerdictClean}, // quarantined later
		{"example.org", "c1", 150 * time.Minute, media.VerdictClean},
	}
	for i, it := range items {
		rec := media.NewPending(it.origin, it.id, alice, base.Add(it.at), media.Content{DeclaredType: "image/png", Size: 3, SHA256: sha(i), BlobKey: "blobs/" + it.id})
		mustCreate(t, c, rec)
		if it.end != "" {
			mustApply(t, c, rec, verdict(it.end, base.Add(it.at+time.Minute)))
		}
	}
	if _, _, err := catalog.Apply(ctx, c, "example.org", "gone", media.Change{Transition: media.Quarantine, At: time.Now(), Actor: officer, Reason: "reported"}); err != nil {
		t.Fatal(err)
	}
	want := []string{"a3", "a1", "a2", "b1", "b2", "c1"}
	since := base.Add(10 * time.Minute)

	all, err := c.ListCleanByUpload(ctx, catalog.CleanQuery{Since: since, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(all); !slices.Equal(got, want) {
		t.Fatalf("one page: %v, want %v", got, want)
	}
	for _, e := range all {
		if e.Record.State != media.StateClean || e.Revision == 0 {
			t.Fatalf("listed %s in state %s at revision %d", e.Record.MXC(), e.Record.State, e.Revision)
		}
	}
	var got []string
	q := catalog.CleanQuery{Since: since, Limit: 2}
	for pages := 0; ; pages++ {
		if pages > len(want) {
			t.Fatalf("paging does not end: %v", got)
		}
		page, err := c.ListCleanByUpload(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ids(page)...)
		if len(page) < q.Limit {
			break
		}
		pos := catalog.UploadPositionOf(page[len(page)-1].Record)
		q.After = &pos
	}
	if !slices.Equal(got, want) {
		t.Fatalf("pages of 2: %v, want %v", got, want)
	}

	// A cursor in the middle of equal times continues after it.
	mid := catalog.UploadPositionOf(all[1].Record)
	rest, err := c.ListCleanByUpload(ctx, catalog.CleanQuery{Since: since, After: &mid, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(rest); !slices.Equal(got, want[2:]) {
		t.Fatalf("after %s: %v, want %v", mid.ID, got, want[2:])
	}

	// Leaving clean leaves the listing; coming back (release) returns.
	if _, _, err := catalog.Apply(ctx, c, "example.org", "b1", media.Change{Transition: media.Quarantine, At: time.Now(), Actor: officer, Reason: "reported"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := catalog.Apply(ctx, c, "example.org", "gone", media.Change{Transition: media.Release, At: time.Now(), Actor: officer, Reason: "false positive"}); err != nil {
		t.Fatal(err)
	}
	again, err := c.ListCleanByUpload(ctx, catalog.CleanQuery{Since: since, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(again), []string{"a3", "a1", "a2", "b2", "gone", "c1"}; !slices.Equal(got, want) {
		t.Fatalf("after quarantine and release: %v, want %v", got, want)
	}

	for _, limit := range []int{0, -1, catalog.MaxCleanPage + 1} {
		if _, err := c.ListCleanByUpload(ctx, catalog.CleanQuery{Since: since, Limit: limit}); !errors.Is(err, media.ErrInvalidID) {
			t.Fatalf("limit %d: %v, want ErrInvalidID", limit, err)
		}
	}
}

// testRescanState: the rescan's state is created once, then changed by
// compare-and-set, and reads back as stored.
func testRescanState(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	if _, _, err := c.GetRescanState(ctx); !errors.Is(err, media.ErrNotFound) {
		t.Fatalf("empty catalog: %v, want ErrNotFound", err)
	}
	st := catalog.RescanState{Basis: "ClamAV 1.4.6/27001", Previous: "ClamAV 1.4.6/27000", StartedAt: t0, Since: t0.Add(-7 * 24 * time.Hour)}
	rev, err := c.PutRescanState(ctx, st, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutRescanState(ctx, st, 0); !errors.Is(err, media.ErrConflict) {
		t.Fatalf("second create: %v, want ErrConflict", err)
	}
	st.Cursor = &catalog.UploadPosition{UploadedAt: t0.Add(-time.Hour), Origin: "example.org", ID: "abc"}
	st.Done, st.Infected, st.Failed = 12, 1, 2
	st.Again, st.AgainFrom = true, "ClamAV 1.4.6/27000"
	st.FinishedAt = t0.Add(time.Minute)
	rev2, err := c.PutRescanState(ctx, st, rev)
	if err != nil {
		t.Fatal(err)
	}
	if rev2 == rev {
		t.Fatalf("revision did not change: %d", rev2)
	}
	if _, err := c.PutRescanState(ctx, st, rev); !errors.Is(err, media.ErrConflict) {
		t.Fatalf("update at an old revision: %v, want ErrConflict", err)
	}
	got, grev, err := c.GetRescanState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if grev != rev2 || got.Basis != st.Basis || got.Previous != st.Previous || !got.StartedAt.Equal(st.StartedAt) || !got.Since.Equal(st.Since) ||
		got.Cursor == nil || !got.Cursor.UploadedAt.Equal(st.Cursor.UploadedAt) || got.Cursor.Origin != st.Cursor.Origin || got.Cursor.ID != st.Cursor.ID ||
		got.Done != 12 || got.Infected != 1 || got.Failed != 2 || !got.FinishedAt.Equal(st.FinishedAt) ||
		!got.Again || got.AgainFrom != st.AgainFrom {
		t.Fatalf("read back %+v at %d, want %+v at %d", got, grev, st, rev2)
	}
}
