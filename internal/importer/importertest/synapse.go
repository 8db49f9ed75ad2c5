// Package importertest builds homeserver media stores for the importer's
// tests: Synapse's media tables (from its published schema, in a real
// PostgreSQL database or an SQLite file) and its media_store layout, with
// the odd rows real servers have. Only tests import it.
package importertest

import (
	"context"
	"crypto/sha256"
	"database/sql"
	_ "embed"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx"
	_ "modernc.org/sqlite"             // "sqlite"

	"github.com/mediarepo/mediarepo/internal/testenv"
)

//go:embed testdata/synapse-media.postgres.sql
var synapsePostgresSchema string

//go:embed testdata/synapse-media.sqlite.sql
var synapseSQLiteSchema string

// Server is the Synapse fixture's server name.
const Server = "example.org"

// Outcomes a case expects from the import (importer.Report's fields).
const (
	Imported    = "imported"
	Quarantined = "quarantined"
	Missing     = "missing"
	Damaged     = "damaged"
	Unreadable  = "unreadable"
	// Skipped rows are not media of any mxc:// URI (the URL-preview cache).
	Skipped = "skipped"
)

// Case is one row of the fixture and its file.
type Case struct {
	Name string
	// Origin is "" for local media (Server).
	Origin string
	// ID is the media_id; NullID stores NULL instead.
	ID     string
	NullID bool
	// FilesystemID is where remote media lies (remote_content/Origin/...).
	FilesystemID string
	Type         string
	UploadName   string
	User         string
	Created      time.Time
	// Content is the file; NoFile leaves it out of the media store.
	Content []byte
	NoFile  bool
	// Length is the media_length column; -1: len(Content).
	Length        int64
	QuarantinedBy string
	Safe          bool
	// SHA256 is the sha256 column ("" NULL; "auto": of Content).
	SHA256   string
	URLCache string
	// Want is the import's outcome; WantScan the state once scanned
	// ("clean", "quarantined"; "" when not scanned).
	Want, WantScan string
}

// Remote reports whether the case is cached remote media.
func (c Case) Remote() bool { return c.Origin != "" }

// MXC is the case's content URI.
func (c Case) MXC() string {
	o := c.Origin
	if o == "" {
		o = Server
	}
	return "mxc://" + o + "/" + c.ID
}

// SynapseCases are the fixture's rows: ordinary media, the odd rows real
// servers have, and rows that must never be imported.
func SynapseCases(t testing.TB) []Case {
	created := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	return []Case{
		{Name: "png", ID: "GerZNDnDZVjsOtardLuwfIBg", Type: "image/png", UploadName: "photo.png", User: "@alice:example.org",
			Created: created, Content: testenv.PNG(t, 64, 48), Length: -1, Want: Imported, WantScan: "clean"},
		{Name: "non-ASCII upload name", ID: "pQbWDjWTDIMuCGUYUBxkdgsj", Type: "text/plain; charset=utf-8", UploadName: "Übersicht – Änderungen 日本語.txt",
			User: "@juergen:example.org", Created: created.Add(time.Hour), Content: []byte("Grüße aus der Verwaltung\n"), Length: -1, SHA256: "auto",
			Want: Imported, WantScan: "clean"},
		{Name: "zero bytes", ID: "emptyFileUploadedByBobXY", Type: "application/octet-stream", UploadName: "empty.bin", User: "@bob:example.org",
			Created: created, Content: []byte{}, Length: 0, Want: Imported, WantScan: "clean"},
		{Name: "quarantined in Synapse", ID: "QuarantinedByAdminInSyna", Type: "image/jpeg", UploadName: "bad.jpg", User: "@mallory:example.org",
			Created: created, Content: testenv.Random(3000), Length: -1, QuarantinedBy: "@admin:example.org", Want: Quarantined},
		{Name: "safe from quarantine", ID: "SafeFromQuarantineLogoAB", Type: "image/png", UploadName: "logo.png", User: "@admin:example.org",
			Created: created, Content: testenv.PNG(t, 16, 16), Length: -1, Safe: true, Want: Imported, WantScan: "clean"},
		{Name: "missing file", ID: "FileLostInAnOldMigration", Type: "image/gif", UploadName: "lost.gif", User: "@alice:example.org",
			Created: created, NoFile: true, Length: 1234, Want: Missing},
		{Name: "EICAR", ID: "EicarTestFileUploadedXYZ", Type: "text/plain", UploadName: "eicar.com", User: "@mallory:example.org",
			Created: created, Content: testenv.EICAR(), Length: -1, Want: Imported, WantScan: "quarantined"},
		{Name: "truncated file", ID: "TruncatedByAFullDiskABCD", Type: "application/pdf", UploadName: "report.pdf", User: "@alice:example.org",
			Created: created, Content: []byte("%PDF-1.4 cut"), Length: 99999, Want: Damaged},
		{Name: "hash differs", ID: "BitRotChangedThisFileXYZ", Type: "application/octet-stream", UploadName: "rot.bin", User: "@alice:example.org",
			Created: created, Content: testenv.Random(500), Length: -1, SHA256: strings.Repeat("ab", 32), Want: Damaged},
		{Name: "path in media ID", ID: "../../../../etc/passwd", Type: "text/plain", User: "@mallory:example.org",
			Created: created, NoFile: true, Length: 10, Want: Unreadable},
		{Name: "NULL media ID", NullID: true, Type: "text/plain", User: "@alice:example.org", Created: created, NoFile: true, Length: 1, Want: Unreadable},
		{Name: "URL preview cache", ID: "2021-03-04_abcdefghijklmnop", Type: "image/png", Created: created, NoFile: true,
			Length: 5, URLCache: "https://example.com/", Want: Skipped},
		{Name: "remote", Origin: "matrix.example.net", ID: "RemoteMediaOfAnotherSrv", FilesystemID: "xqvOCnEwuyXDSCKtIRoYCBMm",
			Type: "image/png", UploadName: "their.png", Created: created, Content: testenv.PNG(t, 20, 10), Length: -1, Want: Imported, WantScan: "clean"},
		{Name: "remote quarantined", Origin: "evil.example.com", ID: "RemoteQuarantinedMedia01", FilesystemID: "mJrDxEycMxKJPqRtTbYhQwEr",
			Type: "application/zip", UploadName: "x.zip", Created: created, Content: testenv.Random(700), Length: -1,
			QuarantinedBy: "@admin:example.org", Want: Quarantined},
		{Name: "remote with a bad origin", Origin: "bad/../origin", ID: "RemoteWithBadOriginABCDE", FilesystemID: "aaaaaaaaaaaaaaaaaaaaaaaa",
			Type: "text/plain", Created: created, NoFile: true, Length: 3, Want: Unreadable},
	}
}

// Count returns how many cases expect outcome.
func Count(cases []Case, outcome string) int64 {
	var n int64
	for _, c := range cases {
		if c.Want == outcome {
			n++
		}
	}
	return n
}

// WriteSynapse creates Synapse's media tables in the database (a
// PostgreSQL DSN, or an SQLite file path that is created) and fills them
// and the media store with cases.
func WriteSynapse(t testing.TB, database, store string, cases []Case) {
	t.Helper()
	driver, schema := "sqlite", synapseSQLiteSchema
	if strings.HasPrefix(database, "postgres") {
		driver, schema = "pgx", synapsePostgresSchema
	}
	db, err := sql.Open(driver, database)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	for _, stmt := range strings.Split(schema, ";\n") {
		if strings.TrimSpace(stripComments(stmt)) == "" {
			continue
		}
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("schema: %v\n%s", err, stmt)
		}
	}
	for _, c := range cases {
		insertSynapse(t, db, c)
		writeSynapseFile(t, store, c)
	}
	// A thumbnail, which the import leaves alone.
	if _, err := db.ExecContext(ctx, `INSERT INTO local_media_repository_thumbnails VALUES ($1, 32, 32, 'image/png', 'scale', 100)`, cases[0].ID); err != nil {
		t.Fatal(err)
	}
	thumb := filepath.Join(store, "local_thumbnails", cases[0].ID[0:2], cases[0].ID[2:4], cases[0].ID[4:], "32-32-image-png-scale")
	writeFile(t, thumb, testenv.PNG(t, 32, 32))
}

func stripComments(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "--") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func insertSynapse(t testing.TB, db *sql.DB, c Case) {
	t.Helper()
	var id any = c.ID
	if c.NullID {
		id = nil
	}
	length := c.Length
	if length < 0 {
		length = int64(len(c.Content))
	}
	var sum any
	switch c.SHA256 {
	case "":
	case "auto":
		h := sha256.Sum256(c.Content)
		sum = hex.EncodeToString(h[:])
	default:
		sum = c.SHA256
	}
	nullable := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	var err error
	if c.Remote() {
		_, err = db.Exec(`INSERT INTO remote_media_cache (media_origin, media_id, media_type, created_ts, upload_name, media_length,
			filesystem_id, last_access_ts, quarantined_by, sha256) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			c.Origin, id, c.Type, c.Created.UnixMilli(), nullable(c.UploadName), length, c.FilesystemID, c.Created.UnixMilli(),
			nullable(c.QuarantinedBy), sum)
	} else {
		_, err = db.Exec(`INSERT INTO local_media_repository (media_id, media_type, media_length, created_ts, upload_name, user_id,
			quarantined_by, url_cache, last_access_ts, safe_from_quarantine, sha256) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			id, c.Type, length, c.Created.UnixMilli(), nullable(c.UploadName), nullable(c.User), nullable(c.QuarantinedBy),
			nullable(c.URLCache), c.Created.UnixMilli(), c.Safe, sum)
	}
	if err != nil {
		t.Fatalf("inserting %s: %v", c.Name, err)
	}
}

// writeSynapseFile lays the file out as Synapse does.
func writeSynapseFile(t testing.TB, store string, c Case) {
	t.Helper()
	if c.NoFile {
		return
	}
	var p string
	if c.Remote() {
		f := c.FilesystemID
		p = filepath.Join(store, "remote_content", c.Origin, f[0:2], f[2:4], f[4:])
	} else {
		p = filepath.Join(store, "local_content", c.ID[0:2], c.ID[2:4], c.ID[4:])
	}
	writeFile(t, p, c.Content)
}

func writeFile(t testing.TB, p string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// BulkCases returns n ordinary local media for measuring the import:
// PNG images of random pixels (unique content: clamd caches verdicts by
// hash; real structure: random bytes would be refused as opaque) of
// about size(i) bytes each.
func BulkCases(t testing.TB, n int, size func(i int) int) []Case {
	created := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := make([]Case, n)
	for i := range cases {
		side := int(math.Sqrt(float64(size(i)) / 3))
		cases[i] = Case{Name: fmt.Sprintf("bulk %d", i), ID: fmt.Sprintf("bulk%020d", i), Type: "image/png",
			UploadName: fmt.Sprintf("IMG_%04d.png", i), User: fmt.Sprintf("@user%d:example.org", i%50),
			Created: created.Add(time.Duration(i) * time.Minute), Content: testenv.PNG(t, side, side), Length: -1,
			Want: Imported, WantScan: "clean"}
	}
	return cases
}
