package importer_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mediarepo/mediarepo/internal/importer"
	"github.com/mediarepo/mediarepo/internal/importer/importertest"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

// TestSynapse imports a Synapse whose database is an SQLite file, and
// one whose media tables are in a real PostgreSQL, into each catalog
// backend.
func TestSynapse(t *testing.T) {
	for _, backend := range catalogs {
		t.Run("SQLite source, "+backend+" catalog", func(t *testing.T) {
			testSynapse(t, newParts(t, backend), "sqlite", filepath.Join(t.TempDir(), "homeserver.db"))
		})
		t.Run("PostgreSQL source, "+backend+" catalog", func(t *testing.T) {
			testSynapse(t, newParts(t, backend), "pgx", testenv.PostgresDB(t))
		})
	}
}

// testSynapse runs the whole story on the fixture: a dry run stores
// nothing, an interrupted run and its continuation import every row
// once, a third run imports nothing, nothing is served before its verdict,
// the scans give the expected verdicts and clean media is served byte
// for byte, and Synapse's database and files are unchanged.
func testSynapse(t *testing.T, p *parts, driver, database string) {
	ctx := context.Background()
	store := t.TempDir()
	cases := importertest.SynapseCases(t)
	importertest.WriteSynapse(t, database, store, cases)
	raw, err := sql.Open(driver, database)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	tables := []string{"local_media_repository", "remote_media_cache", "local_media_repository_thumbnails"}
	before := snapshot(t, store, raw, tables...)

	db, err := importer.OpenDB(ctx, database)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	src, err := importer.NewSynapse(db, importertest.Server, store)
	if err != nil {
		t.Fatal(err)
	}
	want := importer.Report{Source: "synapse",
		Rows:           int64(len(cases)) - importertest.Count(cases, importertest.Skipped),
		Imported:       importertest.Count(cases, importertest.Imported),
		Quarantined:    importertest.Count(cases, importertest.Quarantined),
		MissingFiles:   importertest.Count(cases, importertest.Missing),
		Damaged:        importertest.Count(cases, importertest.Damaged),
		UnreadableRows: importertest.Count(cases, importertest.Unreadable)}

	totals, err := src.Totals(ctx)
	if err != nil || totals.Files != want.Rows {
		t.Fatalf("Totals = %+v, %v; want %d files", totals, err, want.Rows)
	}

	// A dry run checks and counts, and stores nothing.
	dry, err := importer.Run(ctx, src, p.deps(), importer.Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	wantDry := want
	wantDry.DryRun = true
	checkCounts(t, "dry run", dry, wantDry)
	if n := p.records(); n != 0 {
		t.Fatalf("the dry run stored %d records", n)
	}

	// A run interrupted after a few rows (Ctrl-C), then run again.
	cctx, cancel := context.WithCancel(ctx)
	first, err := importer.Run(cctx, src, p.deps(), importer.Options{Concurrency: 2, Progress: &cancelAfter{n: 4, cancel: cancel}})
	cancel()
	mustAbort(t, err)
	if first.Rows >= want.Rows || first.Rows < 4 {
		t.Fatalf("the interrupted run went through %d of %d rows", first.Rows, want.Rows)
	}
	second, err := importer.Run(ctx, src, p.deps(), importer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if first.Imported+second.Imported != want.Imported || first.Quarantined+second.Quarantined != want.Quarantined ||
		second.AlreadyPresent != first.Imported+first.Quarantined {
		t.Fatalf("interrupted %+v then continued %+v: want %d imported and %d quarantined in all, each once",
			first, second, want.Imported, want.Quarantined)
	}
	// Running it again imports nothing twice.
	third, err := importer.Run(ctx, src, p.deps(), importer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	wantThird := want
	wantThird.Imported, wantThird.Quarantined, wantThird.AlreadyPresent = 0, 0, want.Imported+want.Quarantined
	checkCounts(t, "third run", third, wantThird)

	// One record per imported row, one scan job per pending one, an audit
	// entry per quarantined one; nothing served before its verdict.
	if n := p.records(); n != int(want.Imported+want.Quarantined) {
		t.Fatalf("%d records in the catalog, want %d (thumbnails and skipped rows are not imported)", n, want.Imported+want.Quarantined)
	}
	if n := p.pendingJobs(); n != uint64(want.Imported) {
		t.Fatalf("%d scan jobs queued, want %d (one per imported file, none for quarantined ones)", n, want.Imported)
	}
	var wantAudit []string
	for _, c := range cases {
		if c.Want == importertest.Quarantined {
			wantAudit = append(wantAudit, "import_quarantined "+c.MXC())
		}
	}
	slices.Sort(wantAudit)
	if got := p.importAudit("import:synapse"); !slices.Equal(got, wantAudit) {
		t.Fatalf("audit entries of the import: %v, want %v", got, wantAudit)
	}
	for _, c := range cases {
		if c.Want == importertest.Imported || c.Want == importertest.Quarantined {
			checkRecord(t, p, c)
		}
	}

	// The scans run at the workers' pace; clean media is then served.
	p.startWorkers()
	for _, c := range cases {
		if c.WantScan == "" {
			continue
		}
		origin := c.Origin
		if origin == "" {
			origin = importertest.Server
		}
		rec := p.waitState(origin, c.ID)
		if string(rec.State) != c.WantScan {
			t.Errorf("%s: scanned %s, want %s", c.Name, rec.State, c.WantScan)
			continue
		}
		got, err := p.download(origin, c.ID)
		switch {
		case c.WantScan == "clean" && (err != nil || !bytes.Equal(got, c.Content)):
			t.Errorf("%s: download gave %d bytes, %v; want the %d bytes imported", c.Name, len(got), err, len(c.Content))
		case c.WantScan != "clean" && !errors.Is(err, media.ErrNotClean):
			t.Errorf("%s: download of %s media: %v, want ErrNotClean", c.Name, rec.State, err)
		}
	}
	if after := snapshot(t, store, raw, tables...); after != before {
		t.Fatalf("the import changed Synapse's files or database:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// checkRecord checks an imported record against its row and that it is
// not served before its verdict.
func checkRecord(t *testing.T, p *parts, c importertest.Case) {
	t.Helper()
	origin := c.Origin
	if origin == "" {
		origin = importertest.Server
	}
	rec, _, err := p.cat.Get(context.Background(), origin, c.ID)
	if err != nil {
		t.Fatalf("%s: %v", c.Name, err)
	}
	sum := sha256.Sum256(c.Content)
	wantState := media.StatePending
	if c.Want == importertest.Quarantined {
		wantState = media.StateQuarantined
	}
	switch {
	case rec.State != wantState:
		t.Errorf("%s: state %s, want %s", c.Name, rec.State, wantState)
	case rec.Uploader != c.User || rec.Remote != c.Remote():
		t.Errorf("%s: uploader %q remote %v, want %q %v", c.Name, rec.Uploader, rec.Remote, c.User, c.Remote())
	case !rec.CreatedAt.Equal(c.Created) || rec.Filename != c.UploadName || rec.DeclaredType != c.Type:
		t.Errorf("%s: created %s name %q type %q, want %s %q %q", c.Name, rec.CreatedAt, rec.Filename, rec.DeclaredType, c.Created, c.UploadName, c.Type)
	case rec.Size != int64(len(c.Content)) || rec.SHA256 != hex.EncodeToString(sum[:]):
		t.Errorf("%s: size %d sha256 %s, want %d %x", c.Name, rec.Size, rec.SHA256, len(c.Content), sum)
	case rec.SafeFromQuarantine != c.Safe:
		t.Errorf("%s: safe_from_quarantine %v, want %v", c.Name, rec.SafeFromQuarantine, c.Safe)
	case len(rec.History) == 0 || rec.History[0].Actor != "import:synapse" || rec.History[0].Action != media.Import:
		t.Errorf("%s: history %+v, want it to start with the import", c.Name, rec.History)
	}
	if _, err := p.download(origin, c.ID); !errors.Is(err, media.ErrNotYetUploaded) && !errors.Is(err, media.ErrNotClean) {
		t.Errorf("%s: %s media before its verdict: download answered %v", c.Name, rec.State, err)
	}
}

func checkCounts(t *testing.T, name string, got, want importer.Report) {
	t.Helper()
	got.Duration, got.Bytes = 0, 0
	if got != want {
		t.Fatalf("%s: report\n%+v\nwant\n%+v", name, got, want)
	}
}
