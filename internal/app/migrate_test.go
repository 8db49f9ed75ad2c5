package app

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/catalog/kv"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

// streamsState returns every stream's last sequence: what a write to the
// source would change.
func streamsState(t *testing.T, js jetstream.JetStream) string {
	t.Helper()
	var b strings.Builder
	l := js.ListStreams(t.Context())
	for info := range l.Info() {
		fmt.Fprintf(&b, "%s:%d ", info.Config.Name, info.State.LastSeq)
	}
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestMigrate copies a KV catalog with records in every kind of state,
// blob records, per-key verdicts, an intent and the remote bytes count;
// the source is never written; a second run changes nothing; a run after
// the source changed and the destination lost a record (an interrupted
// run) brings the destination level again.
func TestMigrate(t *testing.T) {
	ctx := t.Context()
	log := slog.New(slog.DiscardHandler)
	js := testenv.JetStream(t)
	src, err := kv.New(ctx, js, kv.Options{}, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 123456789, time.UTC)
	usages := map[string]catalog.Usage{
		"@alice:example.org":     {Bytes: 7_000_000_000, Files: 60},
		"@bob.b=r/x:example.org": {Bytes: 1, Files: 1},
	}
	for i := range 60 {
		sha := fmt.Sprintf("%064x", i+1)
		rec := media.NewPending("example.org", fmt.Sprintf("m%03d", i), "@alice:example.org", t0.Add(time.Duration(i)*time.Second),
			media.Content{DeclaredType: "image/png", Size: int64(100 + i), SHA256: sha, BlobKey: "media/b" + sha[:8]})
		rec.Remote = i%10 == 0
		switch i % 3 {
		case 1:
			rec, _ = rec.Apply(media.Change{Transition: media.VerdictClean, At: t0, Actor: "w", Verdict: &media.Verdict{Result: media.ResultClean, ScannedAt: t0}})
		case 2:
			rec, _ = rec.Apply(media.Change{Transition: media.VerdictInfected, At: t0, Actor: "w", Verdict: &media.Verdict{Result: media.ResultInfected, Signature: "Eicar", ScannedAt: t0}})
		}
		if _, err := src.CreateBlob(ctx, media.NewBlob(sha, rec.BlobKey, rec.Size, t0)); err != nil {
			t.Fatal(err)
		}
		if _, err := src.Create(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := src.Create(ctx, media.NewReserved("example.org", "r1", "@bob:example.org", t0, t0.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	digest := [32]byte{1, 2, 3}
	if err := src.PutKeyVerdict(ctx, "example.org", "m001", digest, media.Verdict{Result: media.ResultClean, ScannedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := src.PutIntent(ctx, catalog.Intent{BlobKey: "media/inflight", Origin: "example.org", ID: "x", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if _, err := src.AddRemoteBytes(ctx, 4242, 0); err != nil {
		t.Fatal(err)
	}
	for user, u := range usages {
		if _, err := src.AddUsage(ctx, user, u, catalog.Usage{}); err != nil {
			t.Fatal(err)
		}
	}
	_ = src.Close()

	dst := newMigrationDestination(t)
	before := streamsState(t, js)
	export, err := kv.OpenExport(ctx, js, kv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := migrateCatalog(ctx, export, dst, 4, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "records: 61 (61 created, 0 replaced, 0 already equal)") ||
		!strings.Contains(out.String(), "blob records: 60 (60 created") ||
		!strings.Contains(out.String(), "verified: the destination holds the source's 61 records and 60 blob records") {
		t.Fatalf("first run:\n%s", out.String())
	}
	if after := streamsState(t, js); after != before {
		t.Fatalf("the source was written to:\n%s\n%s", before, after)
	}
	for _, id := range []string{"m000", "m001", "m002", "r1"} {
		want, _, err := func() (media.Record, uint64, error) {
			s, err := kv.OpenExport(ctx, js, kv.Options{})
			if err != nil {
				return media.Record{}, 0, err
			}
			var got media.Record
			err = s.Records(ctx, func(r media.Record) error {
				if r.ID == id {
					got = r
				}
				return nil
			})
			return got, 0, err
		}()
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := dst.Get(ctx, "example.org", id)
		if err != nil || !sameJSON(got, want) {
			t.Fatalf("%s in the destination: %+v, %v; want %+v", id, got, err, want)
		}
	}
	if v, err := dst.GetKeyVerdict(ctx, "example.org", "m001", digest); err != nil || v.Result != media.ResultClean {
		t.Fatalf("per-key verdict: %+v, %v", v, err)
	}
	if n, err := dst.RemoteBytes(ctx); err != nil || n != 4242 {
		t.Fatalf("remote bytes %d, %v", n, err)
	}
	checkUsages := func(when string) {
		t.Helper()
		for user, want := range usages {
			if got, err := dst.GetUsage(ctx, user); err != nil || got != want {
				t.Fatalf("%s: usage of %s in the destination %+v, %v; want %+v", when, user, got, err, want)
			}
		}
	}
	checkUsages("first run")
	var intents int
	if err := dst.ListIntents(ctx, time.Time{}, func(catalog.Intent) error { intents++; return nil }); err != nil || intents != 1 {
		t.Fatalf("intents %d, %v", intents, err)
	}

	out.Reset()
	if err := migrateCatalog(ctx, export, dst, 4, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "records: 61 (0 created, 0 replaced, 61 already equal)") ||
		!strings.Contains(out.String(), "users' usage counters: 2") {
		t.Fatalf("second run:\n%s", out.String())
	}
	checkUsages("second run") // not added twice

	// The source changes, the destination lost a record.
	src, err = kv.New(ctx, js, kv.Options{}, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := catalog.Apply(ctx, src, "example.org", "m000", media.Change{Transition: media.VerdictClean, At: t0, Actor: "w",
		Verdict: &media.Verdict{Result: media.ResultClean, ScannedAt: t0}}); err != nil {
		t.Fatal(err)
	}
	_ = src.Close()
	_, rev, err := dst.Get(ctx, "example.org", "m005")
	if err != nil {
		t.Fatal(err)
	}
	if err := dst.Delete(ctx, "example.org", "m005", rev); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := migrateCatalog(ctx, export, dst, 4, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "records: 61 (1 created, 1 replaced, 59 already equal)") {
		t.Fatalf("run after changes:\n%s", out.String())
	}
	if got, _, err := dst.Get(ctx, "example.org", "m000"); err != nil || got.State != media.StateClean {
		t.Fatalf("changed record in the destination: %s, %v", got.State, err)
	}
}

// newMigrationDestination returns an empty PostgreSQL catalog (a fresh
// database of the test PostgreSQL) to migrate into.
func newMigrationDestination(t *testing.T) catalog.Catalog {
	t.Helper()
	dsnFile := filepath.Join(t.TempDir(), "dsn")
	if err := os.WriteFile(dsnFile, []byte(testenv.PostgresDB(t)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := openPostgres(t.Context(), dsnFile, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
