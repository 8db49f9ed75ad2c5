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

// byUploader collects ByUploader's records.
func byUploader(ctx context.Context, c catalog.Catalog, user string) ([]catalog.Entry, error) {
	var out []catalog.Entry
	err := c.ByUploader(ctx, user, func(e catalog.Entry) error {
		out = append(out, e)
		return nil
	})
	return out, err
}

// uploaderMedia is more than one batch of every backend (PostgreSQL reads
// 500 records a query), so that the listing crosses batch boundaries.
const uploaderMedia = 1100

// testByUploaderStreams: ByUploader passes every record of the user once
// across batches, also when fn changes each record it is given (what a
// bulk quarantine does), passes no other user's records, and stops at fn's
// first error.
func testByUploaderStreams(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	var failed sync.Once
	var createErr error
	for i := range uploaderMedia {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if _, err := c.Create(ctx, pending("example.org", fmt.Sprintf("u%04d", i), alice, sha(i))); err != nil {
				failed.Do(func() { createErr = err })
			}
		})
	}
	wg.Wait()
	if createErr != nil {
		t.Fatal(createErr)
	}
	mustCreate(t, c, pending("example.org", "other", bob, shaA))

	seen := map[string]int{}
	at := t0.Add(time.Minute)
	err := c.ByUploader(ctx, alice, func(e catalog.Entry) error {
		seen[e.Record.ID]++
		if e.Record.Uploader != alice {
			return fmt.Errorf("record %s of %s", e.Record.ID, e.Record.Uploader)
		}
		// A change moves the record (newer change); it must not come again.
		_, _, err := catalog.Apply(ctx, c, e.Record.Origin, e.Record.ID, verdict(media.VerdictClean, at))
		at = at.Add(time.Millisecond)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != uploaderMedia {
		t.Fatalf("ByUploader passed %d records, want %d", len(seen), uploaderMedia)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("ByUploader passed %s %d times", id, n)
		}
	}
	for i := range uploaderMedia {
		rec, _, err := c.Get(ctx, "example.org", fmt.Sprintf("u%04d", i))
		if err != nil || rec.State != media.StateClean {
			t.Fatalf("u%04d after the listing: %s, %v", i, rec.State, err)
		}
	}

	stop := errors.New("enough")
	n := 0
	err = c.ByUploader(ctx, alice, func(catalog.Entry) error {
		if n++; n == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Fatalf("ByUploader after fn's error at 3: %d calls, %v", n, err)
	}
}
