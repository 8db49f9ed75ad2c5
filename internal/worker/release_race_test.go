package worker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

// beforeMove is the real sealed store with a hook that runs once, just
// before the first Move: the moment an officer's release races the
// worker's quarantine move.
type beforeMove struct {
	Blobs
	hook func()
}

func (b *beforeMove) Move(ctx context.Context, from, to string) error {
	if h := b.hook; h != nil {
		b.hook = nil
		h()
	}
	return b.Blobs.Move(ctx, from, to)
}

// TestQuarantineMoveRacesRelease: an officer releases a record (it, or
// another copy of the same bytes) while the worker moves the infected
// blob to quarantine. The officer's release saw the blob under media/
// and moved nothing; the worker must judge from the current records and
// leave the released record servable: its key under media/, its bytes
// there.
func TestQuarantineMoveRacesRelease(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil, nil, Options{})
	store := &beforeMove{Blobs: f.blobs}
	w, err := New(f.cat, store, f.scanner, nil, Options{}, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	release := func(rec media.Record) func() {
		return func() {
			_, _, err := apply(ctx, f.cat, rec.Origin, rec.ID, media.Change{Transition: media.Release, At: time.Now(),
				Actor: "@officer:" + origin, Reason: "false positive"})
			if err != nil {
				t.Errorf("release: %v", err)
			}
		}
	}
	requireServable := func(t *testing.T, rec media.Record, data []byte) {
		t.Helper()
		got := f.get(rec)
		if got.State != media.StateClean || !strings.HasPrefix(got.BlobKey, DefaultMediaPrefix) {
			t.Fatalf("released record: %s at %s; want clean under %s", got.State, got.BlobKey, DefaultMediaPrefix)
		}
		if err := sameContent(f, got.BlobKey, data); err != nil {
			t.Fatal(err)
		}
		if b := f.blob(rec.SHA256); b.Quarantined || b.BlobKey != got.BlobKey {
			t.Fatalf("blob record %+v; want it at %s, not quarantined", b, got.BlobKey)
		}
	}

	t.Run("the record itself", func(t *testing.T) {
		data := append(testenv.EICAR(), []byte("\nself "+media.NewMediaID())...)
		rec, rev := f.upload(data)
		store.hook = release(rec)
		d := newDelivery(rec, rev, 1)
		w.Handle(ctx, d)
		f.requireAcked(d)
		requireServable(t, rec, data)
	})
	t.Run("another copy", func(t *testing.T) {
		data := append(testenv.EICAR(), []byte("\nother "+media.NewMediaID())...)
		a, arev := f.upload(data)
		b, brev := f.upload(data)
		f.requireAcked(f.handle(a, arev, 1)) // quarantined; b pending keeps the blob in place
		store.hook = release(a)
		d := newDelivery(b, brev, 1)
		w.Handle(ctx, d)
		f.requireAcked(d)
		requireServable(t, a, data)
		if got := f.get(b); got.State != media.StateQuarantined {
			t.Fatalf("b is %s, want quarantined", got.State)
		}
	})
}
