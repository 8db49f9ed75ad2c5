package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix"

	"github.com/mediarepo/mediarepo/internal/importer"
	"github.com/mediarepo/mediarepo/internal/importer/importertest"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

// importRun runs `mediarepo import KIND ARGS… --json --no-progress` with
// the instance's configuration (while the instance runs: the import
// shares its NATS, catalog and blob store) and returns its report.
func importRun(t testing.TB, in *instance, kind string, args ...string) importer.Report {
	t.Helper()
	argv := append([]string{"import", kind, "-config", in.cfgPath, "--json", "--no-progress"}, args...)
	cmd := exec.Command(filepath.Join(binDir, "mediarepo"), argv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("mediarepo import %s: %v\n%s%s", kind, err, stdout.String(), stderr.String())
	}
	var rep importer.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("import report: %v\n%s", err, stdout.String())
	}
	return rep
}

// download fetches mxc://origin/id through the instance's authenticated
// media API, waiting for the verdict.
func download(t testing.TB, in *instance, token, origin, id string) (int, http.Header, []byte) {
	t.Helper()
	return do(t, "GET", in.URL+"/_matrix/client/v1/media/download/"+origin+"/"+id+"?timeout_ms=60000", token, nil, nil)
}

// TestImportSynapse imports a Synapse (its media tables in PostgreSQL, its
// media store laid out as Synapse does) with the binary while mediarepo
// runs, then fetches every mxc:// URI through mediarepo's API: clean
// media byte for byte with its type and upload name, the rest refused.
// A second run imports nothing.
func TestImportSynapse(t *testing.T) {
	hs := newHomeserver(t, users())
	in := start(t, newSetup(t, hs))
	database := testenv.PostgresDB(t)
	store := t.TempDir()
	cases := importertest.SynapseCases(t)
	importertest.WriteSynapse(t, database, store, cases)

	rep := importRun(t, in, "synapse", "--database", database, "--media-store", store)
	if rep.Imported != importertest.Count(cases, importertest.Imported) || rep.Quarantined != importertest.Count(cases, importertest.Quarantined) ||
		rep.MissingFiles != importertest.Count(cases, importertest.Missing) || rep.Damaged != importertest.Count(cases, importertest.Damaged) ||
		rep.UnreadableRows != importertest.Count(cases, importertest.Unreadable) {
		t.Fatalf("report %+v does not match the fixture", rep)
	}
	for _, c := range cases {
		if c.Want == importertest.Skipped || c.Want == importertest.Unreadable {
			continue
		}
		origin := c.Origin
		if origin == "" {
			origin = importertest.Server
		}
		status, hdr, body := download(t, in, aliceToken, origin, c.ID)
		switch {
		case c.WantScan == "clean":
			_, params, _ := mime.ParseMediaType(hdr.Get("Content-Disposition"))
			if status != 200 || !bytes.Equal(body, c.Content) || hdr.Get("Content-Type") != c.Type || params["filename"] != c.UploadName {
				t.Errorf("%s: %d, %d bytes, type %q, disposition %q; want the imported bytes as %q named %q",
					c.Name, status, len(body), hdr.Get("Content-Type"), hdr.Get("Content-Disposition"), c.Type, c.UploadName)
			}
		case c.Want == importertest.Quarantined || c.WantScan == "quarantined":
			if _, reason := errcode(t, body); status != 403 || reason != "MCS_MEDIA_NOT_CLEAN" {
				t.Errorf("%s: %d %s, want 403 MCS_MEDIA_NOT_CLEAN", c.Name, status, body)
			}
		default: // missing or damaged: never imported
			if status != 404 {
				t.Errorf("%s: %d %s, want 404", c.Name, status, body)
			}
		}
	}
	again := importRun(t, in, "synapse", "--database", database, "--media-store", store)
	if again.Imported != 0 || again.Quarantined != 0 || again.AlreadyPresent != rep.Imported+rep.Quarantined {
		t.Fatalf("second run: %+v; want everything already present", again)
	}
}

// BenchmarkImportSynapse measures `mediarepo import synapse` with the
// scan workers of the running mediarepo scanning while it imports (S3
// store on MinIO, NATS JetStream, one in-process scan worker on clamd):
// 1000 PNG files of random pixels, one in ten of about 2 MiB and the rest
// of about 96 KiB (≈ 300 MB), unique content. It reports the import's files/s and MB/s, and the time
// until every file had its verdict and was served. The baseline in the
// same run: the same mix uploaded through POST /_matrix/media/v3/upload by
// 4 concurrent clients (the import's default concurrency), with the
// per-user rate limits lifted.
func BenchmarkImportSynapse(b *testing.B) {
	const n = 1000
	size := func(i int) int {
		if i%10 == 0 {
			return 2 << 20
		}
		return 96 << 10
	}
	s := newSetup(b, newHomeserver(b, users()))
	// The baseline's uploads must not meet the per-user rate limits.
	s.extra = "limits:\n  uploads_per_second: 100000\n  upload_burst: 100000\n  downloads_per_second: 100000\n  download_burst: 100000\n"
	in := start(b, s)
	for range b.N {
		b.StopTimer()
		database := testenv.PostgresDB(b)
		store := b.TempDir()
		cases := importertest.BulkCases(b, n, size)
		importertest.WriteSynapse(b, database, store, cases)
		b.StartTimer()
		rep := importRun(b, in, "synapse", "--database", database, "--media-store", store)
		b.StopTimer()
		if rep.Imported != n {
			b.Fatalf("imported %d of %d: %+v", rep.Imported, n, rep)
		}
		b.ReportMetric(rep.FilesPerSecond(), "files/s")
		b.ReportMetric(rep.MBPerSecond(), "MB/s")
		drained := waitAllClean(b, in, cases) + rep.Duration
		b.ReportMetric(drained.Seconds(), "s_to_last_verdict")

		up := uploadAll(b, in, importertest.BulkCases(b, n, size), 4)
		b.ReportMetric(float64(n)/up.Seconds(), "upload_files/s")
		b.ReportMetric(float64(rep.Bytes)/1e6/up.Seconds(), "upload_MB/s")
		fmt.Printf("import: %d files, %.1f MB in %s (%.1f files/s, %.1f MB/s); last verdict after %s; "+
			"baseline upload API, 4 clients: %s (%.1f files/s)\n", rep.Imported, float64(rep.Bytes)/1e6, rep.Duration,
			rep.FilesPerSecond(), rep.MBPerSecond(), drained, up, float64(n)/up.Seconds())
	}
}

// waitAllClean downloads every case (each waiting for its verdict) and
// returns how long that took.
func waitAllClean(b *testing.B, in *instance, cases []importertest.Case) time.Duration {
	start := time.Now()
	for _, c := range cases {
		status, _, body := download(b, in, aliceToken, importertest.Server, c.ID)
		if status != 200 || len(body) != len(c.Content) {
			b.Fatalf("%s: %d, %d bytes: %.200s", c.Name, status, len(body), body)
		}
	}
	return time.Since(start)
}

// uploadAll uploads every case's content through the upload API with
// clients concurrent uploaders and returns the wall time.
func uploadAll(b *testing.B, in *instance, cases []importertest.Case, clients int) time.Duration {
	work := make(chan importertest.Case)
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Go(func() {
			for c := range work {
				status, _, body := do(b, "POST", in.URL+"/_matrix/media/v3/upload?filename="+url.QueryEscape(c.UploadName), aliceToken,
					bytes.NewReader(c.Content), map[string]string{"Content-Type": c.Type})
				if status != 200 {
					b.Errorf("upload %s: %d %s", c.Name, status, body)
				}
			}
		})
	}
	for _, c := range cases {
		work <- c
	}
	close(work)
	wg.Wait()
	return time.Since(start)
}

// TestImportDendrite runs the real thing: Dendrite (built from its Go
// module, SQLite, loopback) takes uploads through its own media API and
// is stopped; `mediarepo import dendrite` brings its media over; with
// Dendrite running again as the homeserver that checks tokens, the same
// mxc:// URIs download through mediarepo byte for byte, each after its
// scan (EICAR refused). A second run imports nothing.
func TestImportDendrite(t *testing.T) {
	ctx := context.Background()
	d := testenv.StartDendrite(t, "example.org")
	cli, err := mautrix.NewClient(d.URL, "", "")
	if err != nil {
		t.Fatal(err)
	}
	reg, err := cli.RegisterDummy(ctx, &mautrix.ReqRegister{Username: "alice", Password: "alice-password-1234"})
	if err != nil {
		t.Fatalf("registering on Dendrite: %v", err)
	}
	cli.SetCredentials(reg.UserID, reg.AccessToken)
	files := []struct {
		name, ctype string
		content     []byte
		clean       bool
	}{
		{"Straßenfest – Foto 1.png", "image/png", testenv.PNG(t, 80, 60), true},
		{"notes.txt", "text/plain", []byte("imported from Dendrite\n"), true},
		{"archive.zip", "application/zip", testenv.Zip(t, testenv.ZipEntry{Name: "data.bin", Data: testenv.Random(3 << 20), Store: true}), true},
		{"eicar.com", "application/octet-stream", testenv.EICAR(), false},
	}
	ids := make([]string, len(files))
	for i, f := range files {
		up, err := cli.UploadMedia(ctx, mautrix.ReqUploadMedia{ContentBytes: f.content, ContentType: f.ctype, FileName: f.name})
		if err != nil {
			t.Fatalf("uploading %s to Dendrite: %v", f.name, err)
		}
		if up.ContentURI.Homeserver != "example.org" {
			t.Fatalf("Dendrite answered %s", up.ContentURI)
		}
		ids[i] = up.ContentURI.FileID
	}
	d.Stop()

	s := newSetup(t, newHomeserver(t, nil))
	s.homeserver = d.URL // tokens are checked by the real Dendrite
	in := start(t, s)
	rep := importRun(t, in, "dendrite", "--database", d.MediaDatabase(), "--media-store", d.MediaStore())
	if rep.Rows != int64(len(files)) || rep.Imported != int64(len(files)) {
		t.Fatalf("import report %+v, want %d files imported", rep, len(files))
	}
	d.Restart(t)
	for i, f := range files {
		status, hdr, body := download(t, in, reg.AccessToken, "example.org", ids[i])
		_, params, _ := mime.ParseMediaType(hdr.Get("Content-Disposition"))
		if f.clean && (status != 200 || !bytes.Equal(body, f.content) || hdr.Get("Content-Type") != f.ctype || params["filename"] != f.name) {
			t.Errorf("%s: %d, %d bytes, type %q, disposition %q; want the bytes uploaded to Dendrite", f.name, status, len(body),
				hdr.Get("Content-Type"), hdr.Get("Content-Disposition"))
		}
		if f.clean {
			continue
		}
		if _, reason := errcode(t, body); status != 403 || reason != "MCS_MEDIA_NOT_CLEAN" {
			t.Errorf("%s: %d %s, want 403 MCS_MEDIA_NOT_CLEAN", f.name, status, body)
		}
	}
	again := importRun(t, in, "dendrite", "--database", d.MediaDatabase(), "--media-store", d.MediaStore())
	if again.Imported != 0 || again.AlreadyPresent != int64(len(files)) {
		t.Fatalf("second run %+v: want everything already present", again)
	}
}
