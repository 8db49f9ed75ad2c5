package review

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
)

// seed creates a record that a worker decided at the given time.
func seed(t *testing.T, f *fixture, uploader string, at time.Time, tr media.Transition, v media.Verdict) media.Record {
	t.Helper()
	ctx := context.Background()
	rec := media.NewPending(origin, media.NewMediaID(), uploader, at, media.Content{Size: 10,
		SHA256: fmt.Sprintf("%064x", at.UnixNano()), BlobKey: "media/x"})
	if _, err := f.cat.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	v.ScannedAt = at
	rec, _, err := catalog.Apply(ctx, f.cat, origin, rec.ID, media.Change{Transition: tr, At: at, Actor: "scanworker", Verdict: &v})
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestListFiltersAndCursor(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	infected := media.Verdict{Result: media.ResultInfected, Signature: "Win.Test.EICAR_HDB-1"}
	var want []string // newest first
	for i := range 7 {
		user := "@alice:example.org"
		if i%2 == 1 {
			user = "@bob:example.org"
		}
		rec := seed(t, f, user, t0.Add(time.Duration(i)*time.Hour), media.VerdictInfected, infected)
		want = append([]string{rec.ID}, want...)
	}
	blocked := seed(t, f, "@bob:example.org", t0.Add(-time.Hour), media.VerdictUnscannable,
		media.Verdict{Result: media.ResultUnscannable, Reason: "encrypted archive"})
	seed(t, f, "@bob:example.org", t0.Add(-2*time.Hour), media.VerdictClean, media.Verdict{Result: media.ResultClean})

	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		p, err := f.rv.List(ctx, Filter{Limit: 3, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Items {
			got = append(got, e.Record.ID)
		}
		if p.Next == "" {
			if pages != 2 {
				t.Fatalf("%d pages for 8 items of 3", pages+1)
			}
			break
		}
		cursor = p.Next
	}
	if fmt.Sprint(got) != fmt.Sprint(append(append([]string{}, want...), blocked.ID)) {
		t.Fatalf("paged listing\n got %v\nwant %v + %s", got, want, blocked.ID)
	}

	cases := []struct {
		name string
		f    Filter
		n    int
	}{
		{"blocked only", Filter{States: []media.State{media.StateBlocked}}, 1},
		{"clean", Filter{States: []media.State{media.StateClean}}, 1},
		{"bob", Filter{Uploader: "@bob:example.org"}, 4},
		{"signature", Filter{Signature: "eicar"}, 7},
		{"since", Filter{Since: t0.Add(5 * time.Hour)}, 2},
		{"until", Filter{Until: t0}, 1},
		{"origin", Filter{Origin: "other.org"}, 0},
		{"hash", Filter{SHA256: blocked.SHA256}, 1},
	}
	for _, c := range cases {
		p, err := f.rv.List(ctx, c.f)
		if err != nil || len(p.Items) != c.n {
			t.Errorf("%s: %d items, want %d (%v)", c.name, len(p.Items), c.n, err)
		}
	}
	if _, err := f.rv.List(ctx, Filter{Cursor: "garbage!"}); !errors.Is(err, ErrBadFilter) {
		t.Fatalf("bad cursor: %v", err)
	}
	if _, err := f.rv.List(ctx, Filter{States: []media.State{"nope"}}); !errors.Is(err, ErrBadFilter) {
		t.Fatalf("bad state: %v", err)
	}
	d, err := f.rv.Get(ctx, origin, blocked.ID)
	if err != nil || d.Record.Verdict.Reason != "encrypted archive" || len(d.Record.History) != 2 {
		t.Fatalf("details: %+v %v", d, err)
	}
}
