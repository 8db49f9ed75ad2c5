package review

import (
	"context"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/media"
)

// TestUploaderAnswersAreBounded: an uploader with more media than
// MaxUploaderItems gets the newest of them listed and the usage of all;
// a bulk action on them acts on every one but lists MaxBulkItems and
// counts the rest.
func TestUploaderAnswersAreBounded(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const user, extra = "@many:example.org", 50
	t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	for i := range MaxUploaderItems + extra {
		seed(t, f, user, t0.Add(time.Duration(i)*time.Second), media.VerdictClean, media.Verdict{Result: media.ResultClean, Engine: "clamd"})
	}
	seed(t, f, "@other:example.org", t0.Add(time.Hour), media.VerdictClean, media.Verdict{Result: media.ResultClean, Engine: "clamd"})

	entries, usage, err := f.rv.ByUploader(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != MaxUploaderItems || usage.Records() != MaxUploaderItems+extra || usage.Count != MaxUploaderItems+extra {
		t.Fatalf("ByUploader: %d entries, usage %+v (%d records)", len(entries), usage, usage.Records())
	}
	for i, e := range entries {
		want := t0.Add(time.Duration(MaxUploaderItems+extra-1-i) * time.Second)
		if got := ChangedAt(e.Record); !got.Equal(want) || e.Record.Uploader != user {
			t.Fatalf("entry %d changed at %v by %s, want %v (the newest first)", i, got, e.Record.Uploader, want)
		}
	}

	b, err := f.rv.QuarantineUploader(ctx, officer, user)
	if err != nil {
		t.Fatal(err)
	}
	if n := b.Changed + b.Unchanged + b.Failed; n != MaxUploaderItems+extra || b.Changed == 0 {
		t.Fatalf("bulk counted %d records (%d changed), want %d", n, b.Changed, MaxUploaderItems+extra)
	}
	if len(b.Items) != MaxBulkItems || b.ItemsOmitted != MaxUploaderItems+extra-MaxBulkItems {
		t.Fatalf("bulk listed %d items and omitted %d", len(b.Items), b.ItemsOmitted)
	}
	_, usage, err = f.rv.ByUploader(ctx, user)
	if err != nil || usage.ByState[media.StateQuarantined] != b.Changed {
		t.Fatalf("after the bulk: %+v, %v; %d changed", usage, err, b.Changed)
	}
}
