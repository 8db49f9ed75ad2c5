package review

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediarepo/mediarepo/internal/audit"
	"github.com/mediarepo/mediarepo/internal/catalog/kv"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/queue"
	"github.com/mediarepo/mediarepo/internal/scan"
	"github.com/mediarepo/mediarepo/internal/scan/clamd"
	"github.com/mediarepo/mediarepo/internal/sealed"
	"github.com/mediarepo/mediarepo/internal/service"
	"github.com/mediarepo/mediarepo/internal/storage/fs"
	"github.com/mediarepo/mediarepo/internal/testenv"
	"github.com/mediarepo/mediarepo/internal/worker"
)

const origin = "example.org"

// fixture is the review over real parts: embedded NATS (catalog, queue,
// audit), a sealed filesystem store, the real upload flow and real scan
// workers talking to the test clamd.
type fixture struct {
	t     *testing.T
	cat   *kv.Catalog
	blobs *sealed.Store
	svc   *service.Service
	audit *audit.Log
	rv    *Reviewer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	reg := prometheus.NewRegistry()
	nc, err := nats.Connect(testenv.NATSURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := kv.New(ctx, js, kv.Options{}, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	backend, err := fs.New(t.TempDir())
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
	scanner, err := clamd.New(clamd.Config{Address: testenv.ClamdAddr(t)})
	if err != nil {
		t.Fatal(err)
	}
	inspector, err := scan.NewArchiveInspector(scan.DefaultArchiveLimits())
	if err != nil {
		t.Fatal(err)
	}
	w, err := worker.New(cat, blobs, scanner, inspector, worker.Options{Concurrency: 2,
		MediaPrefix: service.MediaPrefix, QuarantinePrefix: service.QuarantinePrefix}, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx, q) }()
	t.Cleanup(func() { cancel(); <-done; cat.Close() })
	aud, err := audit.Open(ctx, js, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	svc := service.New(blobs, cat, q, service.Options{MaxUploadSize: 10 << 20}, log, reg)
	svc.EnableQuotas(cat, service.Quotas{}) // usage is counted, as mediarepo does
	rv, err := New(cat, blobs, q, aud, Options{MediaPrefix: service.MediaPrefix, QuarantinePrefix: service.QuarantinePrefix,
		OnDeleted: func(ctx context.Context, rec media.Record) { svc.ReleaseUsage(ctx, rec.Uploader, rec.Size) }}, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, cat: cat, blobs: blobs, svc: svc, audit: aud, rv: rv}
}

// upload stores data as user through the real upload flow and waits for
// the scan workers' verdict.
func (f *fixture) upload(user string, data []byte) media.Record {
	f.t.Helper()
	rec, err := f.uploadErr(user, data)
	if err != nil {
		f.t.Fatal(err)
	}
	return rec
}

func (f *fixture) uploadErr(user string, data []byte) (media.Record, error) {
	f.t.Helper()
	rec, err := f.svc.Upload(context.Background(), service.Upload{Origin: origin, Uploader: user, Filename: "f.bin",
		DeclaredType: "application/octet-stream", Body: bytes.NewReader(data), ContentLength: int64(len(data))})
	if err != nil {
		return rec, err
	}
	return f.settled(rec.ID), nil
}

// settled waits until the record has a verdict (not pending).
func (f *fixture) settled(id string) media.Record {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rec, err := f.cat.WaitFor(ctx, origin, id, func(r media.Record) bool { return r.State != media.StatePending })
	if err != nil {
		f.t.Fatalf("no verdict for %s: %v", id, err)
	}
	if rec.State == media.StateQuarantined {
		// The worker moves the blob after the verdict; wait for that too.
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if b, _, err := f.cat.GetBlob(ctx, rec.SHA256); err == nil && b.Quarantined {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		rec, _, _ = f.cat.Get(ctx, origin, id)
	}
	return rec
}

func (f *fixture) get(id string) media.Record {
	f.t.Helper()
	rec, _, err := f.cat.Get(context.Background(), origin, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return rec
}

// read returns the stored plaintext under key.
func (f *fixture) read(key string) ([]byte, error) {
	rc, err := f.blobs.Get(context.Background(), key, 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// lastAudit returns the newest audit entry.
func (f *fixture) lastAudit() audit.Entry {
	f.t.Helper()
	p, err := f.audit.List(context.Background(), audit.Filter{Limit: 1})
	if err != nil || len(p.Entries) != 1 {
		f.t.Fatalf("audit: %+v %v", p, err)
	}
	return p.Entries[0]
}

var officer = Request{Actor: "@officer:example.org", Reason: "checked by hand", RequestID: "req-1"}
