package worker

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/mediarepo/mediarepo/internal/catalog"
	"github.com/mediarepo/mediarepo/internal/catalog/kv"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/queue"
	"github.com/mediarepo/mediarepo/internal/scan"
	"github.com/mediarepo/mediarepo/internal/scan/clamd"
	"github.com/mediarepo/mediarepo/internal/sealed"
	"github.com/mediarepo/mediarepo/internal/storage"
	"github.com/mediarepo/mediarepo/internal/storage/fs"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

const origin = "example.org"

// fixture is a worker over real services: embedded NATS (catalog), a
// sealed filesystem store (or another backend) and clamd.
type fixture struct {
	t       testing.TB
	js      jetstream.JetStream
	nc      *nats.Conn
	cat     catalog.Catalog
	blobs   *sealed.Store
	scanner scan.Scanner
	reg     *prometheus.Registry
	w       *Worker
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func testKeyring(t testing.TB) *sealed.Keyring {
	t.Helper()
	key := make([]byte, sealed.KeySize)
	rand.Read(key)
	kr, err := sealed.NewKeyring("test", map[string][]byte{"test": key})
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func newFSBackend(t testing.TB) storage.Store {
	t.Helper()
	s, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newFixture builds the fixture with the scanner (nil: the shared test
// clamd) over backend (nil: a fresh filesystem store).
func newFixture(t testing.TB, scanner scan.Scanner, backend storage.Store, opts Options) *fixture {
	t.Helper()
	return newFixtureWith(t, testenv.NATSURL(t), scanner, backend, testKeyring(t), opts)
}

// newFixtureWith builds the fixture on the NATS server at url with the
// keyring.
func newFixtureWith(t testing.TB, url string, scanner scan.Scanner, backend storage.Store, keys *sealed.Keyring, opts Options) *fixture {
	t.Helper()
	ctx := context.Background()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := kv.New(ctx, js, kv.Options{}, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	return newFixtureOn(t, js, nc, cat, scanner, backend, keys, opts)
}

// newFixtureOn builds the fixture on a JetStream connection (queue,
// outbox, audit) with the catalog cat (KV or PostgreSQL).
func newFixtureOn(t testing.TB, js jetstream.JetStream, nc *nats.Conn, cat catalog.Catalog, scanner scan.Scanner, backend storage.Store, keys *sealed.Keyring, opts Options) *fixture {
	t.Helper()
	if backend == nil {
		backend = newFSBackend(t)
	}
	if scanner == nil {
		scanner = newClamd(t, testenv.ClamdAddr(t))
	}
	f := &fixture{t: t, js: js, nc: nc, cat: cat, blobs: sealed.New(backend, keys), scanner: scanner, reg: prometheus.NewRegistry()}
	inspector, err := scan.NewArchiveInspector(scan.DefaultArchiveLimits())
	if err != nil {
		t.Fatal(err)
	}
	if opts.BackoffBase == 0 {
		opts.BackoffBase = 50 * time.Millisecond
	}
	f.w, err = New(cat, f.blobs, scanner, inspector, opts, testLogger(t), f.reg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func newClamd(t testing.TB, addr string) *clamd.Scanner {
	t.Helper()
	s, err := clamd.New(clamd.Config{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sum(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

// upload stores data as the upload flow does (sealed blob, per-hash blob
// record shared by identical content, pending record) and returns the
// record and its revision.
func (f *fixture) upload(data []byte) (media.Record, uint64) {
	return f.uploadReader(bytes.NewReader(data), int64(len(data)), sum(data))
}

func (f *fixture) uploadReader(r io.Reader, size int64, sha string) (media.Record, uint64) {
	t := f.t
	t.Helper()
	ctx := context.Background()
	id := media.NewMediaID()
	key := DefaultMediaPrefix + id
	if err := f.blobs.Put(ctx, key, r, size); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	b, rev, err := f.cat.GetBlob(ctx, sha)
	switch {
	case errors.Is(err, media.ErrNotFound):
		if _, err := f.cat.CreateBlob(ctx, media.NewBlob(sha, key, size, now)); err != nil {
			t.Fatal(err)
		}
	case err != nil:
		t.Fatal(err)
	default:
		next, err := b.AddRef(now)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.cat.UpdateBlob(ctx, next, rev); err != nil {
			t.Fatal(err)
		}
		if err := f.blobs.Delete(ctx, key); err != nil {
			t.Fatal(err)
		}
		key = b.BlobKey
	}
	rec := media.NewPending(origin, id, "@alice:"+origin, now, media.Content{Size: size, SHA256: sha, BlobKey: key, DeclaredType: "application/octet-stream"})
	recRev, err := f.cat.Create(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	return rec, recRev
}

func (f *fixture) get(rec media.Record) media.Record {
	f.t.Helper()
	got, _, err := f.cat.Get(context.Background(), rec.Origin, rec.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	return got
}

func (f *fixture) blob(sha string) media.Blob {
	f.t.Helper()
	b, _, err := f.cat.GetBlob(context.Background(), sha)
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

// delivery is a queue delivery for tests that drive Handle directly; it
// records what the worker answered.
type delivery struct {
	job  queue.Job
	n    uint64
	last bool

	mu       sync.Mutex
	acks     int
	naks     []time.Duration
	progress int
}

func newDelivery(rec media.Record, rev uint64, n uint64) *delivery {
	return &delivery{job: queue.JobFor(rec, rev, "test", time.Now()), n: n}
}

func (d *delivery) Job() queue.Job       { return d.job }
func (d *delivery) NumDelivered() uint64 { return d.n }
func (d *delivery) Last() bool           { return d.last }
func (d *delivery) Ack(context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.acks++
	return nil
}
func (d *delivery) NakWithDelay(delay time.Duration) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.naks = append(d.naks, delay)
	return nil
}
func (d *delivery) InProgress() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.progress++
	return nil
}

func (d *delivery) answers() (acks int, naks []time.Duration, progress int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.acks, append([]time.Duration(nil), d.naks...), d.progress
}

// handle runs delivery n of rec's job and returns what it answered.
func (f *fixture) handle(rec media.Record, rev uint64, n uint64) *delivery {
	return f.handleLast(rec, rev, n, false)
}

// handleLast runs delivery n, the last one if last.
func (f *fixture) handleLast(rec media.Record, rev uint64, n uint64, last bool) *delivery {
	d := newDelivery(rec, rev, n)
	d.last = last
	f.w.Handle(context.Background(), d)
	return d
}

func (f *fixture) requireAcked(d *delivery) {
	f.t.Helper()
	acks, naks, _ := d.answers()
	if acks != 1 || len(naks) != 0 {
		f.t.Fatalf("delivery answered %d acks, naks %v; want exactly one ack", acks, naks)
	}
}

// value reads a counter's or gauge's current value.
func value(t testing.TB, m prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}
