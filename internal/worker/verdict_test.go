package worker

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/storage"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

// TestSamplesEndInTheRightState runs real-format samples through the
// worker against real clamd, NATS and a sealed filesystem store.
func TestSamplesEndInTheRightState(t *testing.T) {
	f := newFixture(t, nil, nil, Options{})
	eicar := testenv.EICAR()
	cases := []struct {
		name      string
		data      []byte
		state     media.State
		result    media.Result
		signature string // substring of the verdict's signature
	}{
		{"eicar", eicar, media.StateQuarantined, media.ResultInfected, testenv.EICARSignature},
		{"clean random", testenv.Random(300 << 10), media.StateClean, media.ResultClean, ""},
		{"zip with eicar", testenv.Zip(t, testenv.ZipEntry{Name: "a.txt", Data: []byte("hello")}, testenv.ZipEntry{Name: "eicar.com", Data: eicar}), media.StateQuarantined, media.ResultInfected, testenv.EICARSignature},
		{"clean zip", testenv.Zip(t, testenv.ZipEntry{Name: "a.bin", Data: testenv.Random(100 << 10)}), media.StateClean, media.ResultClean, ""},
		{"nested zip with eicar", testenv.NestedZip(t, 3, testenv.ZipEntry{Name: "eicar.com", Data: eicar}), media.StateQuarantined, media.ResultInfected, testenv.EICARSignature},
		{"zip bomb", testenv.ZipOfZeros(t, 1, 200<<20, nil), media.StateBlocked, media.ResultUnscannable, ""},
		{"eicar hidden after 150 MiB of zeros", testenv.ZipOfZeros(t, 1, 150<<20, eicar), media.StateBlocked, media.ResultUnscannable, ""},
		{"pdf with eicar", testenv.PDFWithAttachment(t, "eicar.com", eicar), media.StateQuarantined, media.ResultInfected, testenv.EICARSignature},
		{"png", testenv.PNG(t, 64, 48), media.StateClean, media.ResultClean, ""},
		{"encrypted zip", testenv.EncryptedZip(t, "secret.txt", []byte("a secret"), "password"), media.StateBlocked, media.ResultUnscannable, "Encrypted"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec, rev := f.upload(c.data)
			d := f.handle(rec, rev, 1)
			f.requireAcked(d)
			got := f.get(rec)
			if got.State != c.state || got.Verdict == nil || got.Verdict.Result != c.result {
				t.Fatalf("state %s verdict %+v; want %s/%s", got.State, got.Verdict, c.state, c.result)
			}
			if !strings.Contains(got.Verdict.Signature, c.signature) {
				t.Errorf("signature %q, want it to contain %q", got.Verdict.Signature, c.signature)
			}
			if got.Verdict.Engine != "ClamAV" || got.History[len(got.History)-1].Actor != "scanworker" {
				t.Errorf("verdict %+v, last event %+v: want ClamAV's verdict stored by scanworker", got.Verdict, got.History[len(got.History)-1])
			}
			b := f.blob(rec.SHA256)
			if b.Verdict == nil || b.Verdict.Result != c.result {
				t.Errorf("hash-level verdict %+v, want %s", b.Verdict, c.result)
			}
			if b.Blocked != (c.result == media.ResultInfected) {
				t.Errorf("blob blocked = %v for %s", b.Blocked, c.result)
			}
			if c.result != media.ResultInfected {
				if got.BlobKey != rec.BlobKey {
					t.Errorf("blob key changed to %s for a %s verdict", got.BlobKey, c.result)
				}
				return
			}
			// Infected, and the only record of the blob: moved to quarantine.
			want := DefaultQuarantinePrefix + strings.TrimPrefix(rec.BlobKey, DefaultMediaPrefix)
			if got.BlobKey != want || b.BlobKey != want || !b.Quarantined {
				t.Fatalf("record key %s, blob %s (quarantined %v); want both at %s", got.BlobKey, b.BlobKey, b.Quarantined, want)
			}
			if _, err := f.blobs.Stat(context.Background(), rec.BlobKey); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("old key %s still readable: %v", rec.BlobKey, err)
			}
			if err := sameContent(f, want, c.data); err != nil {
				t.Error(err)
			}
		})
	}
	for _, r := range []media.Result{media.ResultClean, media.ResultInfected, media.ResultUnscannable} {
		if n := value(t, f.w.metrics.verdicts.WithLabelValues(string(r), "scan")); n == 0 {
			t.Errorf("no %s verdicts counted", r)
		}
	}
}

// TestOverCapFileIsBlocked sends clamd more than its StreamMaxLength.
func TestOverCapFileIsBlocked(t *testing.T) {
	f := newFixture(t, nil, nil, Options{})
	size := testenv.ClamdStreamMax(t) + 1<<20
	data := testenv.Random(int(size))
	rec, rev := f.upload(data)
	d := f.handle(rec, rev, 1)
	f.requireAcked(d)
	got := f.get(rec)
	if got.State != media.StateBlocked || got.Verdict.Result != media.ResultUnscannable {
		t.Fatalf("state %s verdict %+v; want blocked/unscannable", got.State, got.Verdict)
	}
}

func sameContent(f *fixture, key string, want []byte) error {
	rc, err := f.blobs.Get(context.Background(), key, 0, -1)
	if err != nil {
		return err
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		return err
	}
	if sum(got) != sum(want) {
		return errors.New("quarantined blob does not hold the uploaded bytes")
	}
	return nil
}

// TestSharedBlobQuarantine: a blob shared by de-duplication moves to
// quarantine only when no record using it is clean or pending.
func TestSharedBlobQuarantine(t *testing.T) {
	f := newFixture(t, nil, nil, Options{})
	eicar := append(testenv.EICAR(), []byte("\nshared "+media.NewMediaID())...)

	t.Run("a clean record keeps the blob in place", func(t *testing.T) {
		data := append(testenv.EICAR(), []byte("\nclean-holder "+media.NewMediaID())...)
		a, _ := f.upload(data)
		// a was judged clean before (say, under older signatures).
		old := media.Verdict{Result: media.ResultClean, Engine: "ClamAV", ScannedAt: a.CreatedAt}
		if _, _, err := f.w.applyVerdict(context.Background(), a.Origin, a.ID, old); err != nil {
			t.Fatal(err)
		}
		b, brev := f.upload(data)
		if b.BlobKey != a.BlobKey {
			t.Fatal("identical content was not shared")
		}
		f.requireAcked(f.handle(b, brev, 1))
		if got := f.get(b); got.State != media.StateQuarantined || got.BlobKey != a.BlobKey {
			t.Fatalf("b: %s at %s; want quarantined, blob in place", got.State, got.BlobKey)
		}
		if blob := f.blob(b.SHA256); !blob.Blocked || blob.Quarantined || blob.BlobKey != a.BlobKey {
			t.Fatalf("blob %+v: want blocked, not moved", blob)
		}
		if got := f.get(a); got.State != media.StateClean {
			t.Fatalf("a is %s; a worker changes only the record it scanned", got.State)
		}
	})

	t.Run("the last record quarantined moves it", func(t *testing.T) {
		a, arev := f.upload(eicar)
		b, brev := f.upload(eicar)
		f.requireAcked(f.handle(a, arev, 1))
		if blob := f.blob(a.SHA256); blob.Quarantined || f.get(a).BlobKey != a.BlobKey {
			t.Fatal("blob moved while another record using it is pending")
		}
		f.requireAcked(f.handle(b, brev, 1))
		blob := f.blob(a.SHA256)
		want := DefaultQuarantinePrefix + strings.TrimPrefix(a.BlobKey, DefaultMediaPrefix)
		if !blob.Quarantined || blob.BlobKey != want || f.get(a).BlobKey != want || f.get(b).BlobKey != want {
			t.Fatalf("blob %+v, a at %s, b at %s; want all at %s", blob, f.get(a).BlobKey, f.get(b).BlobKey, want)
		}
		if err := sameContent(f, want, eicar); err != nil {
			t.Fatal(err)
		}
		if n := value(t, f.w.metrics.moved); n != 1 {
			t.Fatalf("%v moves counted, want 1", n)
		}
	})
}

// TestDuplicateDeliveriesGiveOneVerdict delivers one job several times,
// concurrently and again afterwards.
func TestDuplicateDeliveriesGiveOneVerdict(t *testing.T) {
	f := newFixture(t, nil, nil, Options{})
	rec, rev := f.upload(testenv.Random(200 << 10))
	var wg sync.WaitGroup
	ds := make([]*delivery, 4)
	for i := range ds {
		ds[i] = newDelivery(rec, rev, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.w.Handle(context.Background(), ds[i])
		}()
	}
	wg.Wait()
	ds = append(ds, f.handle(rec, rev, 2))
	for _, d := range ds {
		f.requireAcked(d)
	}
	got := f.get(rec)
	verdicts := 0
	for _, e := range got.History {
		if e.Action == media.VerdictClean {
			verdicts++
		}
	}
	if got.State != media.StateClean || verdicts != 1 {
		t.Fatalf("state %s with %d verdict events; want clean with one", got.State, verdicts)
	}
}

// TestUnusableBlobBlocks: a missing blob and bytes that do not match the
// record's SHA-256 block the media at once (fail closed).
func TestUnusableBlobBlocks(t *testing.T) {
	f := newFixture(t, nil, nil, Options{})
	ctx := context.Background()

	missing, mrev := f.upload(testenv.Random(10 << 10))
	if err := f.blobs.Delete(ctx, missing.BlobKey); err != nil {
		t.Fatal(err)
	}
	f.requireAcked(f.handle(missing, mrev, 1))
	if got := f.get(missing); got.State != media.StateBlocked || got.Verdict.Result != media.ResultFailed {
		t.Fatalf("missing blob: %s %+v; want blocked/failed", got.State, got.Verdict)
	}

	// Another complete sealed blob put in the place of the recorded one.
	swapped, srev := f.upload(testenv.Random(10 << 10))
	if err := f.blobs.Put(ctx, swapped.BlobKey, strings.NewReader(strings.Repeat("x", 10<<10)), 10<<10); err != nil {
		t.Fatal(err)
	}
	f.requireAcked(f.handle(swapped, srev, 1))
	got := f.get(swapped)
	if got.State != media.StateBlocked || !strings.Contains(got.Verdict.Reason, "SHA-256") {
		t.Fatalf("swapped blob: %s %+v; want blocked for the SHA-256 mismatch", got.State, got.Verdict)
	}
}
