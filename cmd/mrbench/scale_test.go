package main

import (
	"log/slog"
	"testing"
)

// TestScaleSmoke runs the scale benchmark's fill and measurements at a
// tiny N against the KV catalog (the real figures come from `make
// bench-scale`).
func TestScaleSmoke(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	f := scaleFlags{n: 400, writers: 4, quarantined: 0.01, uploaders: 50, samples: 3}
	sc, err := openScale(ctx, "kv", dir, "", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fill(ctx, sc.cat, f); err != nil {
		t.Fatal(err)
	}
	sc.close()
	got, err := scaleChild("kv", dir, "", f.samples)
	if err != nil {
		t.Fatal(err)
	}
	if got.Matches != 4 {
		t.Errorf("officers' list has %d matches, want the 4 quarantined", got.Matches)
	}
	if got.UploaderMedia == 0 || got.RSSAfterOpenKB == 0 || got.Pass.P50 <= 0 {
		t.Errorf("figures missing: %+v", got)
	}
}
