package catalogtest

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
)

// Maintenance that never reads everything: atomic reservations and the
// remote retention listing (intents: intents.go).

// testReserveLimit: the count of open reservations and the create are one
// atomic step; filled and expired reservations free their place.
func testReserveLimit(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	now := time.Now()
	reserve := func(user string, at time.Time) (media.Record, error) {
		rec := media.NewReserved("example.org", media.NewMediaID(), user, at, at.Add(time.Hour))
		_, err := c.Reserve(ctx, rec, 3)
		return rec, err
	}
	var held []media.Record
	for range 3 {
		rec, err := reserve("@alice:example.org", now)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, rec)
	}
	if _, err := reserve("@alice:example.org", now); !errors.Is(err, media.ErrLimitExceeded) {
		t.Fatalf("fourth reservation: %v, want ErrLimitExceeded", err)
	}
	if _, err := reserve("@bob:example.org", now); err != nil {
		t.Fatalf("another user's reservation: %v", err)
	}
	// Filling one frees a slot.
	content := media.Content{DeclaredType: "image/png", Size: 3, SHA256: shaA, BlobKey: "media/x"}
	if _, _, err := catalog.Apply(ctx, c, "example.org", held[0].ID, media.Change{Transition: media.Upload, At: now, Actor: "@alice:example.org", Content: &content}); err != nil {
		t.Fatal(err)
	}
	if _, err := reserve("@alice:example.org", now); err != nil {
		t.Fatalf("after one was filled: %v", err)
	}
	if _, err := reserve("@alice:example.org", now); !errors.Is(err, media.ErrLimitExceeded) {
		t.Fatalf("over the limit again: %v, want ErrLimitExceeded", err)
	}
	// Two hours later every reservation has expired.
	if _, err := reserve("@alice:example.org", now.Add(2*time.Hour)); err != nil {
		t.Fatalf("after expiry: %v", err)
	}

	// Concurrent creates never pass the limit.
	var ok, refused atomic.Int32
	var wg sync.WaitGroup
	for range 12 {
		wg.Go(func() {
			_, err := reserve("@carol:example.org", now)
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, media.ErrLimitExceeded):
				refused.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 3 || refused.Load() != 9 {
		t.Fatalf("12 concurrent reservations at limit 3: %d created, %d refused", ok.Load(), refused.Load())
	}
}

// testListRemoteBefore: the retention listing yields clean cached remote
// media fetched before the cut-off, and nothing else.
func testListRemoteBefore(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	remote := func(id string, at time.Time, change *media.Change) media.Record {
		rec := media.NewPending("remote.org", id, "", at, media.Content{DeclaredType: "image/png", Size: 3, SHA256: shaA, BlobKey: "media/" + id})
		rec.Remote = true
		if _, err := c.Create(ctx, rec); err != nil {
			t.Fatal(err)
		}
		if change != nil {
			var err error
			if rec, _, err = catalog.Apply(ctx, c, rec.Origin, id, *change); err != nil {
				t.Fatal(err)
			}
		}
		return rec
	}
	clean := verdict(media.VerdictClean, t0)
	infected := media.Change{Transition: media.VerdictInfected, At: t0, Actor: "worker-1",
		Verdict: &media.Verdict{Result: media.ResultInfected, Signature: "Eicar", ScannedAt: t0}}
	remote("old", t0, &clean)
	remote("waiting", t0.Add(time.Minute), nil)
	remote("bad", t0.Add(2*time.Minute), &infected)
	gone := remote("gone", t0.Add(3*time.Minute), &clean)
	remote("newer", t0.Add(2*time.Hour), &clean)
	local := pending("remote.org", "local", alice, shaA)
	local.CreatedAt, local.UploadedAt = t0, t0
	if _, err := c.Create(ctx, local); err != nil {
		t.Fatal(err)
	}
	_, rev, err := c.Get(ctx, gone.Origin, gone.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, gone.Origin, gone.ID, rev); err != nil {
		t.Fatal(err)
	}
	list := func(before time.Time) []string {
		var out []string
		if err := c.ListRemoteBefore(ctx, before, func(e catalog.Entry) error {
			out = append(out, e.Record.ID)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		slices.Sort(out)
		return out
	}
	if got := list(t0.Add(time.Hour)); !slices.Equal(got, []string{"old"}) {
		t.Fatalf("due an hour after t0: %v, want [old]", got)
	}
	if got := list(t0.Add(3 * time.Hour)); !slices.Equal(got, []string{"newer", "old"}) {
		t.Fatalf("due three hours after t0: %v, want [newer old]", got)
	}
	// The waiting one becomes clean, and is due then.
	if _, _, err := catalog.Apply(ctx, c, "remote.org", "waiting", clean); err != nil {
		t.Fatal(err)
	}
	if got := list(t0.Add(time.Hour)); !slices.Equal(got, []string{"old", "waiting"}) {
		t.Fatalf("after the verdict: %v, want [old waiting]", got)
	}
	if got := list(t0); len(got) != 0 {
		t.Fatalf("nothing fetched before t0, got %v", got)
	}
}
