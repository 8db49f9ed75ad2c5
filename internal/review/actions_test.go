package review

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/audit"
	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/service"
	"github.com/mediarepo/mediarepo/internal/storage"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

func TestReleaseInfected(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	rec := f.upload("@mallory:example.org", testenv.EICAR())
	if rec.State != media.StateQuarantined || !strings.HasPrefix(rec.BlobKey, service.QuarantinePrefix) {
		t.Fatalf("EICAR not quarantined by the worker: %+v", rec)
	}
	if _, err := f.rv.Release(ctx, Request{Actor: officer.Actor}, origin, rec.ID, false); !errors.Is(err, ErrReasonRequired) {
		t.Fatalf("release without reason: %v", err)
	}
	res, err := f.rv.Release(ctx, officer, origin, rec.ID, false)
	if err != nil || !res.Changed || res.Record.State != media.StateClean {
		t.Fatalf("release: %+v %v", res, err)
	}
	got := f.get(rec.ID)
	if !strings.HasPrefix(got.BlobKey, service.MediaPrefix) {
		t.Fatalf("blob still in quarantine after release: %s", got.BlobKey)
	}
	if data, err := f.read(got.BlobKey); err != nil || !bytes.Equal(data, testenv.EICAR()) {
		t.Fatalf("released blob unreadable: %v", err)
	}
	if ev := got.History[len(got.History)-1]; ev.Action != media.Release || ev.Actor != officer.Actor || ev.Reason != officer.Reason {
		t.Fatalf("history: %+v", ev)
	}
	e := f.lastAudit()
	if e.Action != ActionRelease || e.Actor != officer.Actor || e.Target != rec.MXC() || e.From != "quarantined" ||
		e.To != "clean" || e.Reason != officer.Reason || e.Outcome != audit.OutcomeChanged || e.RequestID != "req-1" {
		t.Fatalf("audit entry: %+v", e)
	}
	// The hash stays blocked unless the officer says so.
	if _, err := f.uploadErr("@bob:example.org", testenv.EICAR()); !errors.Is(err, media.ErrHashBlocked) {
		t.Fatalf("upload of a blocked hash: %v", err)
	}
	res, err = f.rv.Release(ctx, officer, origin, rec.ID, false)
	if err != nil || res.Changed || f.lastAudit().Outcome != audit.OutcomeUnchanged {
		t.Fatalf("repeat release: %+v %v", res, err)
	}
	res, err = f.rv.Release(ctx, officer, origin, rec.ID, true)
	if err != nil || !res.Changed || res.Detail != "hash block lifted" {
		t.Fatalf("lift block: %+v %v", res, err)
	}
	if _, err := f.uploadErr("@bob:example.org", testenv.EICAR()); err != nil {
		t.Fatalf("upload after the block was lifted: %v", err)
	}
}

func TestDeletePurgesWithLastReference(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	data := testenv.Random(4096)
	a := f.upload("@alice:example.org", data)
	b := f.upload("@bob:example.org", data)
	if a.State != media.StateClean || a.BlobKey != b.BlobKey {
		t.Fatalf("identical content not shared: %+v %+v", a, b)
	}
	res, err := f.rv.Delete(ctx, officer, origin, a.ID)
	if err != nil || !res.Changed || res.Record.State != media.StateDeleted {
		t.Fatalf("delete: %+v %v", res, err)
	}
	if _, err := f.read(a.BlobKey); err != nil {
		t.Fatalf("blob purged while another record uses it: %v", err)
	}
	blob, _, err := f.cat.GetBlob(ctx, a.SHA256)
	if err != nil || !blob.Blocked || blob.RefCount != 1 {
		t.Fatalf("blob record after first delete: %+v %v", blob, err)
	}
	if _, err := f.rv.Delete(ctx, officer, origin, b.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.blobs.Stat(ctx, a.BlobKey); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("blob not purged with its last reference: %v", err)
	}
	tomb := f.get(a.ID)
	if tomb.State != media.StateDeleted || tomb.SHA256 != a.SHA256 || tomb.Uploader != "@alice:example.org" {
		t.Fatalf("tombstone lost its facts: %+v", tomb)
	}
	res, err = f.rv.Delete(ctx, officer, origin, a.ID)
	if err != nil || res.Changed {
		t.Fatalf("repeat delete: %+v %v", res, err)
	}
	if _, err := f.uploadErr("@carol:example.org", data); !errors.Is(err, media.ErrHashBlocked) {
		t.Fatalf("deleted hash not blocked: %v", err)
	}
	if _, err := f.rv.Release(ctx, officer, origin, a.ID, false); !errors.Is(err, ErrNotAllowed) {
		t.Fatalf("release of a tombstone: %v", err)
	}
	if e := f.lastAudit(); e.Outcome != audit.OutcomeFailed || e.Action != ActionRelease {
		t.Fatalf("refused action not audited: %+v", e)
	}
	if _, _, err := f.rv.Sample(ctx, officer, origin, a.ID); !errors.Is(err, media.ErrNotFound) {
		t.Fatalf("sample of a tombstone: %v", err)
	}
}

func TestQuarantineRescanAndSample(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	data := testenv.Random(2048)
	rec := f.upload("@alice:example.org", data)
	res, err := f.rv.Quarantine(ctx, officer, origin, rec.ID)
	if err != nil || !res.Changed || res.Record.State != media.StateQuarantined {
		t.Fatalf("quarantine: %+v %v", res, err)
	}
	if !errors.Is(res.Record.ServeError(), media.ErrNotClean) {
		t.Fatal("quarantined media would be served")
	}
	if res, err := f.rv.Quarantine(ctx, officer, origin, rec.ID); err != nil || res.Changed {
		t.Fatalf("repeat quarantine: %+v %v", res, err)
	}
	got, rc, err := f.rv.Sample(ctx, officer, origin, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	sample, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(sample, data) || got.SHA256 != rec.SHA256 {
		t.Fatal("sample differs from the upload")
	}
	if e := f.lastAudit(); e.Action != ActionSample || !strings.Contains(e.Detail, rec.SHA256) {
		t.Fatalf("sample not audited: %+v", e)
	}
	res, err = f.rv.Rescan(ctx, officer, origin, rec.ID)
	if err != nil || !res.Changed || res.Record.State != media.StatePending {
		t.Fatalf("rescan: %+v %v", res, err)
	}
	if after := f.settled(rec.ID); after.State != media.StateClean || after.Verdict == nil || strings.Contains(after.Verdict.Reason, "reused") {
		t.Fatalf("rescan did not scan again: %+v", after)
	}
}

func TestBulkActions(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var mine []media.Record
	for range 3 {
		mine = append(mine, f.upload("@alice:example.org", testenv.Random(1000)))
	}
	other := f.upload("@bob:example.org", testenv.Random(1000))
	shared := f.upload("@bob:example.org", testenv.Random(1000))

	b, err := f.rv.QuarantineUploader(ctx, officer, "@alice:example.org")
	if err != nil || b.Changed != 3 || b.Failed != 0 {
		t.Fatalf("quarantine uploader: %+v %v", b, err)
	}
	if b, err = f.rv.QuarantineUploader(ctx, officer, "@alice:example.org"); err != nil || b.Changed != 0 || b.Unchanged != 3 {
		t.Fatalf("repeat: %+v %v", b, err)
	}
	entries, usage, err := f.rv.ByUploader(ctx, "@alice:example.org")
	if err != nil || len(entries) != 3 || usage.Count != 3 || usage.Bytes != 3000 || usage.ByState[media.StateQuarantined] != 3 {
		t.Fatalf("by uploader: %d %+v %v", len(entries), usage, err)
	}
	top, err := f.rv.TopUsage(ctx, 1)
	if err != nil || len(top) != 1 || top[0].UserID != "@alice:example.org" || top[0].Bytes != 3000 || top[0].Count != 3 {
		t.Fatalf("top usage: %+v %v", top, err)
	}

	b, err = f.rv.QuarantineHash(ctx, officer, shared.SHA256)
	if err != nil || b.Changed != 1 || b.Detail != "hash blocked" {
		t.Fatalf("quarantine hash: %+v %v", b, err)
	}
	if _, err := f.uploadErr("@carol:example.org", mustRead(t, f, shared.BlobKey)); !errors.Is(err, media.ErrHashBlocked) {
		t.Fatalf("hash not blocked: %v", err)
	}
	if f.get(other.ID).State != media.StateClean {
		t.Fatal("another uploader's media was touched")
	}

	b, err = f.rv.EraseUploader(ctx, officer, "@alice:example.org")
	if err != nil || b.Changed != 3 {
		t.Fatalf("erase: %+v %v", b, err)
	}
	if u, err := f.cat.GetUsage(ctx, "@alice:example.org"); err != nil || u.Bytes != 0 || u.Files != 0 {
		t.Fatalf("usage after the erasure: %+v %v, want zero", u, err)
	}
	for _, rec := range mine {
		if got := f.get(rec.ID); got.State != media.StateDeleted {
			t.Fatalf("%s not erased: %s", rec.ID, got.State)
		}
		if _, err := f.blobs.Stat(ctx, rec.BlobKey); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("erased blob kept: %v", err)
		}
		if blob, _, err := f.cat.GetBlob(ctx, rec.SHA256); err == nil && blob.Blocked {
			t.Fatal("erasure blocked a hash")
		}
	}
	p, err := f.audit.List(ctx, audit.Filter{Action: ActionEraseUploaderRec})
	if err != nil || len(p.Entries) != 3 {
		t.Fatalf("erasure not audited per record: %+v %v", p, err)
	}
}

func mustRead(t *testing.T, f *fixture, key string) []byte {
	t.Helper()
	b, err := f.read(key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOfficerAgainstVerdicts races officer quarantines against scan
// verdicts on pending records: whatever the order, the officer's decision
// stands, because both write by compare-and-set and a late verdict is stale.
func TestOfficerAgainstVerdicts(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const n = 20
	var ids []string
	for i := range n {
		rec := media.NewPending(origin, media.NewMediaID(), "@alice:example.org", time.Now(), media.Content{
			Size: 1, SHA256: fmt.Sprintf("%064x", i+1), BlobKey: "media/none"})
		if _, err := f.cat.Create(ctx, rec); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, rec.ID)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for _, id := range ids {
		wg.Go(func() {
			v := media.Verdict{Result: media.ResultClean, ScannedAt: time.Now()}
			_, _, err := catalog.Apply(ctx, f.cat, origin, id, media.Change{Transition: media.VerdictClean, At: time.Now(), Actor: "scanworker", Verdict: &v})
			if err != nil && !errors.Is(err, media.ErrStale) {
				errs <- err
			}
		})
		wg.Go(func() {
			if _, err := f.rv.Quarantine(ctx, officer, origin, id); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, id := range ids {
		if got := f.get(id); got.State != media.StateQuarantined {
			t.Fatalf("%s ended %s: the officer's quarantine was overwritten", id, got.State)
		}
	}
}

// TestQuarantineUploaderSkipsSafeFromQuarantine: media imported with
// Synapse's safe_from_quarantine stays served when its uploader's media is
// quarantined in bulk, as in Synapse; quarantining it by ID still works.
func TestQuarantineUploaderSkipsSafeFromQuarantine(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	plain := f.upload("@admin:example.org", testenv.Random(1000))
	safe := f.upload("@admin:example.org", testenv.Random(1000))
	if _, _, err := f.cat.Modify(ctx, safe.Origin, safe.ID, func(r *media.Record) error {
		r.SafeFromQuarantine = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	b, err := f.rv.QuarantineUploader(ctx, officer, "@admin:example.org")
	if err != nil || b.Changed != 1 || b.Unchanged != 1 || b.Detail != "1 safe from quarantine" {
		t.Fatalf("quarantine uploader: %+v %v", b, err)
	}
	for _, c := range []struct {
		rec  media.Record
		want media.State
	}{{plain, media.StateQuarantined}, {safe, media.StateClean}} {
		if got, _, err := f.cat.Get(ctx, c.rec.Origin, c.rec.ID); err != nil || got.State != c.want {
			t.Errorf("%s: %s %v, want %s", c.rec.MXC(), got.State, err, c.want)
		}
	}
	if res, err := f.rv.Quarantine(ctx, officer, safe.Origin, safe.ID); err != nil || !res.Changed {
		t.Fatalf("quarantine by ID of media safe from bulk quarantine: %+v %v", res, err)
	}
}
