package httpapi

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediarepo/mediarepo/internal/auth"
	"github.com/mediarepo/mediarepo/internal/catalog/kv"
	"github.com/mediarepo/mediarepo/internal/e2ee"
	"github.com/mediarepo/mediarepo/internal/media"
	"github.com/mediarepo/mediarepo/internal/sealed"
	"github.com/mediarepo/mediarepo/internal/service"
	"github.com/mediarepo/mediarepo/internal/session/sessiontest"
	"github.com/mediarepo/mediarepo/internal/storage"
	"github.com/mediarepo/mediarepo/internal/storage/fs"
	"github.com/mediarepo/mediarepo/internal/testenv"
	"github.com/mediarepo/mediarepo/internal/thumbnail"
)

// publicFixture is the public API over real parts: embedded NATS (the
// catalog), a sealed filesystem store, the upload/download service and a
// homeserver stub that answers whoami. Uploads are marked clean at once
// (scan.dev_mark_clean) unless a test records states itself.
type publicFixture struct {
	srv   *httptest.Server
	api   *API
	svc   *service.Service
	cat   *kv.Catalog
	blobs *sealed.Store
	raw   storage.Store // the filesystem store under blobs
	hs    *sessiontest.Homeserver
	logs  *syncBuffer
}

// syncBuffer is a log sink tests can read while requests run.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fixtureOptions adjust a publicFixture before it starts.
type fixtureOptions struct {
	api     func(*Options)
	service func(*service.Options)
	remote  func(*service.Service) // enables federation fetching
}

func newPublicFixture(t *testing.T, fo fixtureOptions) *publicFixture {
	t.Helper()
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(io.MultiWriter(logs, t.Output()), &slog.HandlerOptions{Level: slog.LevelInfo}))
	cat, blobs, raw := realParts(t, testenv.JetStream(t), log)
	reg := prometheus.NewRegistry()
	sopts := service.Options{MaxUploadSize: 1 << 20, UnusedExpiresAfter: time.Hour, MaxPendingCreates: 5, DevMarkClean: true}
	if fo.service != nil {
		fo.service(&sopts)
	}
	svc := service.New(blobs, cat, nil, sopts, log, reg)
	if fo.remote != nil {
		fo.remote(svc)
	}
	hs := sessiontest.New(t, "example.org", map[string]string{"alice": "pw"})
	keys, err := e2ee.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	authn := auth.NewWhoami(map[string]string{"example.org": hs.URL}, &http.Client{Timeout: 5 * time.Second}, time.Minute, time.Second)
	opts := Options{Hosts: map[string]string{"example.org": "example.org"}, DefaultServer: "example.org",
		DefaultWait: time.Second, MaxWait: 5 * time.Second, MinBodyRate: 1024,
		UploadsPerSecond: 100, UploadBurst: 100, DownloadsPerSecond: 100, DownloadBurst: 100,
		Thumbnails: service.NewThumbnails(svc, blobs, thumbnail.Limits{MaxInputBytes: 1 << 20, MaxPixels: 1 << 22, MaxFrames: 10}, 1, reg),
		// No key scanner: the tests of the scanner routes stop before a
		// plaintext scan (limits, waits for the stored bytes' verdict).
		Scanner: ScannerOptions{Keys: keys, Checker: service.NewEncrypted(svc, cat, nil), Wait: 2 * time.Second}}
	if fo.api != nil {
		fo.api(&opts)
	}
	api := New(svc, authn, opts, log, reg)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return &publicFixture{srv: srv, api: api, svc: svc, cat: cat, blobs: blobs, raw: raw, hs: hs, logs: logs}
}

// realParts opens the catalog on js and a sealed filesystem store in a
// temporary directory (returned too).
func realParts(t *testing.T, js jetstream.JetStream, log *slog.Logger) (*kv.Catalog, *sealed.Store, storage.Store) {
	t.Helper()
	cat, err := kv.New(context.Background(), js, kv.Options{}, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	backend, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	keys, err := sealed.NewKeyring("k", map[string][]byte{"k": make([]byte, sealed.KeySize)})
	if err != nil {
		t.Fatal(err)
	}
	return cat, sealed.New(backend, keys), backend
}

// do sends one request and returns the status, headers and body.
func (f *publicFixture) do(t *testing.T, method, path, token string, body []byte) (int, http.Header, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// record stores a record directly in the catalog (created at created).
func (f *publicFixture) record(t *testing.T, origin string, created time.Time, state media.State) media.Record {
	t.Helper()
	rec := media.NewPending(origin, media.NewMediaID(), "@alice:example.org", created, media.Content{Size: 5,
		SHA256: strings.Repeat("cd", 32), BlobKey: "media/none", Filename: "x.txt", DeclaredType: "text/plain"})
	rec.State = state
	if _, err := f.cat.Create(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	return rec
}
