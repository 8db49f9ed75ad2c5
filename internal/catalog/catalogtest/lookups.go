package catalogtest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
)

func listState(t *testing.T, c catalog.Catalog, s media.State) []string {
	t.Helper()
	var out []string
	if err := c.ListByState(t.Context(), s, func(e catalog.Entry) error {
		if e.Record.State != s {
			t.Errorf("ListByState(%s) returned a %s record", s, e.Record.State)
		}
		out = append(out, e.Record.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func testLookups(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	for _, r := range []media.Record{
		pending("example.org", "a1", alice, shaA),
		pending("example.org", "a2", alice, shaB),
		pending("example.org", "b1", bob, shaA),
		media.NewReserved("example.org", "r1", bob, t0, t0.Add(time.Hour)),
		pending("remote.example", "c1", "", shaA),
	} {
		mustCreate(t, c, r)
	}
	byHash, err := c.ByHash(ctx, shaA)
	if got := ids(byHash); err != nil || !sameSet(got, "a1", "b1", "c1") {
		t.Fatalf("ByHash(A) = %v, %v", got, err)
	}
	byUser, err := byUploader(ctx, c, bob)
	if got := ids(byUser); err != nil || !sameSet(got, "b1", "r1") {
		t.Fatalf("ByUploader(bob) = %v, %v", got, err)
	}
	if got := listState(t, c, media.StatePending); fmt.Sprint(got) != "[a1 a2 b1 c1]" {
		t.Fatalf("pending = %v", got)
	}
	if got := listState(t, c, media.StateReserved); fmt.Sprint(got) != "[r1]" {
		t.Fatalf("reserved = %v", got)
	}
	// State changes move records between the lists at once.
	a1, _, _ := c.Get(ctx, "example.org", "a1")
	mustApply(t, c, a1, verdict(media.VerdictInfected, t0.Add(time.Minute)))
	a2, _, _ := c.Get(ctx, "example.org", "a2")
	mustApply(t, c, a2, verdict(media.VerdictClean, t0.Add(time.Minute)))
	if got := listState(t, c, media.StatePending); fmt.Sprint(got) != "[b1 c1]" {
		t.Fatalf("pending after verdicts = %v", got)
	}
	if got := listState(t, c, media.StateQuarantined); fmt.Sprint(got) != "[a1]" {
		t.Fatalf("quarantined = %v", got)
	}
	if got := listState(t, c, media.StateClean); fmt.Sprint(got) != "[a2]" {
		t.Fatalf("clean (not indexed in KV) = %v", got)
	}
	// A changed hash moves the record between hash lookups.
	if _, _, err := c.Modify(ctx, "example.org", "b1", func(r *media.Record) error { r.SHA256 = shaB; return nil }); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.ByHash(ctx, shaA); !sameSet(ids(got), "a1", "c1") {
		t.Fatalf("ByHash(A) after the change = %v", ids(got))
	}
	if got, _ := c.ByHash(ctx, shaB); !sameSet(ids(got), "a2", "b1") {
		t.Fatalf("ByHash(B) after the change = %v", ids(got))
	}
	stop := errors.New("stop")
	wantErr(t, "ListByState stopped by fn", c.ListByState(ctx, media.StatePending, func(catalog.Entry) error { return stop }), stop)
	var walked []string
	if err := c.Walk(ctx, func(e catalog.Entry) error { walked = append(walked, e.Record.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	if !sameSet(walked, "a1", "a2", "b1", "r1", "c1") {
		t.Fatalf("Walk = %v", walked)
	}
	wantErr(t, "Walk stopped by fn", c.Walk(ctx, func(catalog.Entry) error { return stop }), stop)
}

func sameSet(got []string, want ...string) bool {
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	return slices.Equal(g, w)
}

// seedListing creates n decided records over several origins, uploaders
// and times, some sharing a change time (ties the order must break), and
// returns every record the listing knows.
func seedListing(t *testing.T, c catalog.Catalog, n int) []media.Record {
	t.Helper()
	var out []media.Record
	origins := []string{"a.example", "b.example", "a.example:8448"}
	users := []string{alice, bob}
	for i := range n {
		origin := origins[i%len(origins)]
		rec := pending(origin, fmt.Sprintf("m%03d", i), users[i%len(users)], sha(i))
		rec.CreatedAt, rec.UploadedAt, rec.History[0].At = t0, t0, t0
		mustCreate(t, c, rec)
		at := t0.Add(time.Duration(i/3) * time.Second) // three records per instant
		tr := []media.Transition{media.VerdictInfected, media.VerdictUnscannable, media.VerdictClean, media.VerdictInfected}[i%4]
		got, _ := mustApply(t, c, rec, verdict(tr, at))
		out = append(out, got)
	}
	return out
}

// expected is what a listing must return: the records that match, in
// listing order, at most limit.
func expected(all []media.Record, q catalog.ListQuery) []string {
	var es []catalog.Entry
	for _, r := range all {
		if q.Match(r) {
			es = append(es, catalog.Entry{Record: r})
		}
	}
	return ids(catalog.SortPage(es, q.Limit))
}

func testList(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	all := seedListing(t, c, 40)
	q := catalog.ListQuery{States: []media.State{media.StateQuarantined, media.StateBlocked}, Limit: 7}
	var got []string
	pages := 0
	for {
		page, err := c.List(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if want := expected(all, q); fmt.Sprint(ids(page)) != fmt.Sprint(want) {
			t.Fatalf("page %d\n got %v\nwant %v", pages, ids(page), want)
		}
		got = append(got, ids(page)...)
		if len(page) < q.Limit {
			break
		}
		last := catalog.PositionOf(page[len(page)-1].Record)
		q.After = &last
	}
	q.After, q.Limit = nil, catalog.MaxListLimit
	if want := expected(all, q); fmt.Sprint(got) != fmt.Sprint(want) || len(want) != 30 {
		t.Fatalf("paged listing (%d pages)\n got %v\nwant %v (30)", pages, got, want)
	}
	// A record that changes state leaves the listing; its position is
	// still a valid cursor.
	first, _ := c.List(ctx, catalog.ListQuery{States: q.States, Limit: 1})
	rec := first[0].Record
	mustApply(t, c, rec, media.Change{Transition: media.Release, At: t0.Add(time.Hour), Actor: officer, Reason: "false positive"})
	pos := catalog.PositionOf(rec)
	rest, err := c.List(ctx, catalog.ListQuery{States: q.States, Limit: catalog.MaxListLimit, After: &pos})
	if err != nil || len(rest) != 29 {
		t.Fatalf("after the released first item: %d, %v; want 29", len(rest), err)
	}
	for _, bad := range []catalog.ListQuery{
		{Limit: 10},
		{States: []media.State{"nope"}, Limit: 10},
		{States: q.States},
		{States: q.States, Limit: catalog.MaxListLimit + 1},
		{States: q.States, Limit: 10, Uploader: "bob"},
		{States: q.States, Limit: 10, Origin: "bad origin"},
	} {
		if _, err := c.List(ctx, bad); err == nil {
			t.Errorf("List(%+v) accepted an invalid query", bad)
		}
	}
}

func testListFilters(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	all := seedListing(t, c, 24)
	since, until := t0.Add(2*time.Second), t0.Add(6*time.Second)
	for _, q := range []catalog.ListQuery{
		{States: []media.State{media.StateQuarantined}, Limit: 100},
		{States: []media.State{media.StateBlocked}, Limit: 100},
		{States: []media.State{media.StateClean}, Limit: 100},
		{States: []media.State{media.StateQuarantined, media.StateBlocked}, Uploader: bob, Limit: 100},
		{States: []media.State{media.StateQuarantined, media.StateBlocked}, Origin: "a.example:8448", Limit: 100},
		{States: []media.State{media.StateQuarantined, media.StateBlocked}, Since: since, Limit: 100},
		{States: []media.State{media.StateQuarantined, media.StateBlocked}, Until: until, Limit: 100},
		{States: []media.State{media.StateQuarantined, media.StateBlocked}, Since: since, Until: until, Uploader: alice, Limit: 2},
		{States: []media.State{media.StatePending}, Limit: 100},
	} {
		got, err := c.List(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		want := expected(all, q)
		if fmt.Sprint(ids(got)) != fmt.Sprint(want) {
			t.Errorf("List(%+v)\n got %v\nwant %v", q, ids(got), want)
		}
		if len(want) == 0 && q.States[0] != media.StatePending {
			t.Errorf("List(%+v): the seed matches nothing, the case tests nothing", q)
		}
	}
}
