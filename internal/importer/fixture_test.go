package importer_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediarepo/mediarepo/internal/audit"
	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/catalog/kv"
	"github.com/mediarepo/mediarepo/internal/catalog/postgres"
	"github.com/mediarepo/mediarepo/internal/importer"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/queue"
	"github.com/mediarepo/mediarepo/internal/scan"
	"github.com/mediarepo/mediarepo/internal/scan/clamd"
	"github.com/mediarepo/mediarepo/internal/sealed"
	"github.com/mediarepo/mediarepo/internal/service"
	fsstore "github.com/mediarepo/mediarepo/internal/storage/fs"
	"github.com/mediarepo/mediarepo/internal/testenv"
	"github.com/mediarepo/mediarepo/internal/worker"
)

// parts are mediarepo's real parts the import runs against: embedded NATS
// (catalog, scan queue, audit log), a sealed filesystem store and the
// service; scan workers against the test clamd start on demand.
type parts struct {
	t     *testing.T
	js    jetstream.JetStream
	cat   catalog.Catalog
	blobs *sealed.Store
	q     *queue.Queue
	audit *audit.Log
	svc   *service.Service
	log   *slog.Logger
	reg   *prometheus.Registry
}

// catalogs are the catalog backends the import must work with.
var catalogs = []string{"kv", "postgres"}

// newParts wires the parts with the named catalog backend ("kv": JetStream
// KV; "postgres": a fresh database in the test PostgreSQL).
func newParts(t *testing.T, catalogBackend string) *parts {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	reg := prometheus.NewRegistry()
	js := testenv.JetStream(t)
	var cat interface {
		catalog.Catalog
		Close() error
	}
	var err error
	if catalogBackend == "postgres" {
		cat, err = postgres.New(ctx, postgres.Options{DSN: testenv.PostgresDB(t)}, log, reg)
	} else {
		cat, err = kv.New(ctx, js, kv.Options{}, log, reg)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	backend, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, sealed.KeySize)
	rand.Read(key)
	keys, err := sealed.NewKeyring("test", map[string][]byte{"test": key})
	if err != nil {
		t.Fatal(err)
	}
	blobs := sealed.New(backend, keys)
	q, err := queue.New(ctx, js, queue.Options{AckWait: 5 * time.Second, MaxDeliver: 3}, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	aud, err := audit.Open(ctx, js, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	svc := service.New(blobs, cat, q, service.Options{MaxUploadSize: 10 << 20}, log, reg)
	return &parts{t: t, js: js, cat: cat, blobs: blobs, q: q, audit: aud, svc: svc, log: log, reg: reg}
}

func (p *parts) deps() importer.Deps {
	return importer.Deps{Service: p.svc, Catalog: p.cat, Audit: p.audit, Log: p.log}
}

// startWorkers runs scan workers against the test clamd until the test ends.
func (p *parts) startWorkers() {
	t := p.t
	scanner, err := clamd.New(clamd.Config{Address: testenv.ClamdAddr(t)})
	if err != nil {
		t.Fatal(err)
	}
	inspector, err := scan.NewArchiveInspector(scan.DefaultArchiveLimits())
	if err != nil {
		t.Fatal(err)
	}
	w, err := worker.New(p.cat, p.blobs, scanner, inspector, worker.Options{Concurrency: 2,
		MediaPrefix: service.MediaPrefix, QuarantinePrefix: service.QuarantinePrefix}, p.log, p.reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx, p.q) }()
	t.Cleanup(func() { cancel(); <-done })
}

// waitState waits until the record leaves pending and returns it.
func (p *parts) waitState(origin, id string) media.Record {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rec, err := p.cat.WaitFor(ctx, origin, id, func(r media.Record) bool { return r.State != media.StatePending })
	if err != nil {
		p.t.Fatalf("waiting for the verdict on %s: %v", media.MXC(origin, id), err)
	}
	return rec
}

// download reads media through the service's download flow.
func (p *parts) download(origin, id string) ([]byte, error) {
	ctx := context.Background()
	rec, err := p.svc.Download(ctx, origin, id, 0)
	if err != nil {
		return nil, err
	}
	rc, err := p.svc.Open(ctx, rec, 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// records counts the catalog's records.
func (p *parts) records() int {
	n := 0
	if err := p.cat.Walk(context.Background(), func(catalog.Entry) error { n++; return nil }); err != nil {
		p.t.Fatal(err)
	}
	return n
}

// pendingJobs is the scan queue's depth.
func (p *parts) pendingJobs() uint64 {
	st, err := p.q.Stats(context.Background())
	if err != nil {
		p.t.Fatal(err)
	}
	return st.Pending
}

// importAudit returns the targets of the import's audit entries.
func (p *parts) importAudit(actor string) []string {
	pg, err := p.audit.List(context.Background(), audit.Filter{Actor: actor, Limit: 500})
	if err != nil {
		p.t.Fatal(err)
	}
	var targets []string
	for _, e := range pg.Entries {
		targets = append(targets, e.Action+" "+e.Target)
	}
	sort.Strings(targets)
	return targets
}

// snapshot describes a media store and database so that a test can show
// the import changed neither: every file's path, mode, time and hash,
// and every row of the media tables.
func snapshot(t *testing.T, store string, db *sql.DB, tables ...string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(store, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %v %d", p, fi.Mode(), fi.ModTime().UnixNano())
		if d.Type().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, " %x", sha256.Sum256(data))
		}
		b.WriteByte('\n')
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range tables {
		rows, err := db.Query("SELECT * FROM " + table)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		var lines []string
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, fmt.Sprint(vals...))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		sort.Strings(lines)
		fmt.Fprintf(&b, "%s:\n%s\n", table, strings.Join(lines, "\n"))
	}
	return b.String()
}

// cancelAfter is a Progress that cancels the run after n rows (a Ctrl-C
// in the middle of an import).
type cancelAfter struct {
	n      int64
	cancel context.CancelFunc
}

func (c *cancelAfter) Start(importer.Totals) {}
func (c *cancelAfter) Step(_ int64, r importer.Report) {
	if r.Rows >= c.n {
		c.cancel()
	}
}
func (c *cancelAfter) Finish(importer.Report) {}

// mustAbort checks that a run stopped because ctx was cancelled.
func mustAbort(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, importer.ErrAborted) || !errors.Is(err, context.Canceled) {
		t.Fatalf("an interrupted run answered %v, want ErrAborted wrapping context.Canceled", err)
	}
}
