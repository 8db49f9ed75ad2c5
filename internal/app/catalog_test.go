package app

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediarepo/mediarepo/internal/config"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

// pgServer is mediarepo wired from the embedded default with the
// PostgreSQL catalog on a private cluster that the test stops and starts.
type pgServer struct {
	t     *testing.T
	pg    *testenv.Postgres
	url   string
	token string
}

func startPGServer(t *testing.T) *pgServer {
	pg := testenv.StartPostgres(t)
	dir := t.TempDir()
	dsnFile := filepath.Join(dir, "dsn")
	if err := os.WriteFile(dsnFile, []byte(pg.URL+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Listen, cfg.AdminListen = "127.0.0.1:0", "127.0.0.1:1"
	cfg.Scan.Workers, cfg.Scan.DevMarkClean = 0, true
	cfg.Thumbnails.Enabled = false
	cfg.Catalog.Backend, cfg.Catalog.Postgres.DSNFile = "postgres", dsnFile
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := NewServer(t.Context(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	hs := httptest.NewServer(s.Public)
	t.Cleanup(hs.Close)
	tok, err := os.ReadFile(filepath.Join(cfg.DataDir, "dev-token"))
	if err != nil {
		t.Fatal(err)
	}
	return &pgServer{t: t, pg: pg, url: hs.URL, token: strings.TrimSpace(string(tok))}
}

func (s *pgServer) do(method, path string, body []byte) (*http.Response, []byte) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.url+path, bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Host = "localhost"
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func (s *pgServer) upload(content string) (int, string) {
	s.t.Helper()
	resp, b := s.do("POST", "/_matrix/media/v3/upload?filename=a.txt", []byte(content))
	var out struct {
		ContentURI string `json:"content_uri"`
	}
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, strings.TrimPrefix(out.ContentURI, "mxc://")
}

func (s *pgServer) download(mxc string) (*http.Response, []byte) {
	return s.do("GET", "/_matrix/client/v1/media/download/"+mxc+"?timeout_ms=0", nil)
}

// wantUnavailable checks a 503 M_UNKNOWN with Retry-After.
func wantUnavailable(t *testing.T, what string, resp *http.Response, body []byte) {
	t.Helper()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), `"M_UNKNOWN"`) {
		t.Fatalf("%s while PostgreSQL is down: %d Retry-After %q %s; want 503 M_UNKNOWN with Retry-After", what, resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
}

// TestPostgresOutage: while the catalog's PostgreSQL is down, uploads and
// downloads answer 503 M_UNKNOWN with Retry-After and nothing is served;
// once it is back, everything stored before is there and new uploads work.
func TestPostgresOutage(t *testing.T) {
	s := startPGServer(t)
	code, before := s.upload("stored before the outage")
	if code != http.StatusOK || before == "" {
		t.Fatalf("upload: %d %q", code, before)
	}
	if resp, body := s.download(before); resp.StatusCode != http.StatusOK || string(body) != "stored before the outage" {
		t.Fatalf("download before the outage: %d %q", resp.StatusCode, body)
	}

	s.pg.Stop()
	resp, body := s.do("POST", "/_matrix/media/v3/upload?filename=b.txt", []byte("during the outage"))
	wantUnavailable(t, "upload", resp, body)
	resp, body = s.download(before)
	wantUnavailable(t, "download of clean media", resp, body)
	resp, body = s.download("localhost/doesnotexist")
	wantUnavailable(t, "download of unknown media", resp, body)

	s.pg.Start()
	// The pool reconnects on its own; the first request may still find a
	// broken connection, so allow a few tries.
	var after string
	for range 20 {
		if code, after = s.upload("stored after the outage"); code == http.StatusOK {
			break
		}
	}
	if after == "" {
		t.Fatal("uploads did not recover after PostgreSQL came back")
	}
	for _, m := range []struct{ mxc, want string }{{before, "stored before the outage"}, {after, "stored after the outage"}} {
		if resp, body := s.download(m.mxc); resp.StatusCode != http.StatusOK || string(body) != m.want {
			t.Fatalf("download of %s after the outage: %d %q", m.mxc, resp.StatusCode, body)
		}
	}
}

// TestPostgresUnreachableAtStart: mediarepo refuses to start, naming the
// database, when its PostgreSQL does not answer.
func TestPostgresUnreachableAtStart(t *testing.T) {
	pg := testenv.StartPostgres(t)
	pg.Stop()
	dir := t.TempDir()
	dsnFile := filepath.Join(dir, "dsn")
	if err := os.WriteFile(dsnFile, []byte(pg.URL), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Scan.Workers, cfg.Scan.DevMarkClean = 0, true
	cfg.Catalog.Backend, cfg.Catalog.Postgres.DSNFile = "postgres", dsnFile
	_, err := NewServer(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "PostgreSQL") || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("start without its database: %v", err)
	}
}
