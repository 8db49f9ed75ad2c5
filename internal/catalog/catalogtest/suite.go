// Package catalogtest is the one conformance suite every catalog backend
// (internal/catalog/kv, internal/catalog/postgres) must pass: the same
// calls must give the same answers whatever stores them.
package catalogtest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/media"
)

// Run runs the suite. newCatalog is called once per subtest and must
// return an empty catalog that no other test uses (closed by the caller's
// cleanup).
func Run(t *testing.T, newCatalog func(t *testing.T) catalog.Catalog) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, c catalog.Catalog)
	}{
		{"CreateGetUpdate", testCreateGetUpdate},
		{"InvalidKeys", testInvalidKeys},
		{"Modify", testModify},
		{"ModifyConcurrent", testModifyConcurrent},
		{"Delete", testDelete},
		{"Blobs", testBlobs},
		{"ReleaseBlob", testReleaseBlob},
		{"Lookups", testLookups},
		{"OddKeys", testOddKeys},
		{"ByUploaderStreams", testByUploaderStreams},
		{"List", testList},
		{"ListFilters", testListFilters},
		{"RecordUpload", testRecordUpload},
		{"RecordUploadRefusals", testRecordUploadRefusals},
		{"RecordUploadConcurrent", testRecordUploadConcurrent},
		{"RecordUploadIntents", testRecordUploadIntents},
		{"WaitFor", testWaitFor},
		{"WaitForMany", testWaitForMany},
		{"Leases", testLeases},
		{"Counters", testCounters},
		{"KeyVerdicts", testKeyVerdicts},
		{"ReserveLimit", testReserveLimit},
		{"ListRemoteBefore", testListRemoteBefore},
		{"Intents", testIntents},
		{"Usages", testUsages},
		{"ListCleanByUpload", testListCleanByUpload},
		{"RescanState", testRescanState},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newCatalog(t))
		})
	}
}

var (
	t0      = time.Date(2026, 11, 23, 10, 0, 0, 123456789, time.UTC)
	shaA    = strings.Repeat("a1", 32)
	shaB    = strings.Repeat("b2", 32)
	alice   = "@alice:example.org"
	bob     = "@bob:example.org"
	officer = "@officer:example.org"
)

func sha(i int) string { return fmt.Sprintf("%064x", i+1) }

func pending(origin, id, uploader, sha string) media.Record {
	return media.NewPending(origin, id, uploader, t0, media.Content{
		DeclaredType: "image/png", Size: 3, SHA256: sha, BlobKey: "blobs/" + id,
	})
}

func verdict(tr media.Transition, at time.Time) media.Change {
	v := media.Verdict{Result: media.ResultClean, Engine: "clamd", ScannedAt: at}
	switch tr {
	case media.VerdictInfected:
		v = media.Verdict{Result: media.ResultInfected, Signature: "Eicar-Test-Signature", Engine: "clamd", ScannedAt: at}
	case media.VerdictUnscannable:
		v = media.Verdict{Result: media.ResultUnscannable, Reason: "encrypted archive", Engine: "clamd", ScannedAt: at}
	}
	return media.Change{Transition: tr, At: at, Actor: "scanworker", Verdict: &v}
}

func mustCreate(t *testing.T, c catalog.Catalog, rec media.Record) uint64 {
	t.Helper()
	rev, err := c.Create(t.Context(), rec)
	if err != nil {
		t.Fatalf("Create %s: %v", rec.MXC(), err)
	}
	return rev
}

func mustApply(t *testing.T, c catalog.Catalog, rec media.Record, ch media.Change) (media.Record, uint64) {
	t.Helper()
	got, rev, err := catalog.Apply(t.Context(), c, rec.Origin, rec.ID, ch)
	if err != nil {
		t.Fatalf("Apply %s to %s: %v", ch.Transition, rec.MXC(), err)
	}
	return got, rev
}

func ids(entries []catalog.Entry) []string {
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		out = append(out, e.Record.ID)
	}
	return out
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: %v, want %v", what, err, want)
	}
}
