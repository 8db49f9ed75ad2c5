// Package e2e drives the built mediarepo binary like a user: it starts it
// against real NATS (JetStream), MinIO and clamd, with a small homeserver
// that answers whoami, and talks to it over HTTP with mautrix.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"github.com/mediarepo/mediarepo/internal/e2ee"
	"github.com/mediarepo/mediarepo/internal/sealed"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

// binDir holds the binaries built once for all tests.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mediarepo-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	cmd := exec.Command("go", "build", "-o", dir+"/", "../../cmd/mediarepo", "../../cmd/scanworker")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building binaries:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// homeserver is a whoami stub: tokens map to user IDs; down makes it 503.
type homeserver struct {
	*httptest.Server
	mu    sync.Mutex
	users map[string]string
	down  bool
}

func newHomeserver(t testing.TB, users map[string]string) *homeserver {
	hs := &homeserver{users: users}
	hs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hs.mu.Lock()
		defer hs.mu.Unlock()
		if hs.down {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		user, ok := hs.users[tok]
		if r.URL.Path != "/_matrix/client/v3/account/whoami" || !ok {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"errcode":"M_UNKNOWN_TOKEN","error":"unknown token"}`))
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"user_id": user, "device_id": "DEV"})
	}))
	t.Cleanup(hs.Close)
	return hs
}

func (hs *homeserver) setDown(down bool) {
	hs.mu.Lock()
	hs.down = down
	hs.mu.Unlock()
}

// instance is one running mediarepo process.
type instance struct {
	t       testing.TB
	URL     string
	Admin   string
	cfgPath string
	cmd     *exec.Cmd
	logs    *bytes.Buffer
	env     []string
	program string // "mediarepo" unless set
}

// setup describes what an instance is started with.
type setup struct {
	natsURL    string
	homeserver string
	bucket     string
	keyDir     string
	dataDir    string
	extra      string // more YAML appended to the config
	scannerKey string // the content scanner's key file
	scannerPub string // its public key
	// scannerWait is content_scanner.wait ("20s" unless set)
	scannerWait string
	// uploadWait is scan.upload_wait ("0s" unless set)
	uploadWait string
	// scannerExtra is more YAML in the content_scanner section
	scannerExtra string
	// engines replaces "clamd: <the test clamd>" in the scan section
	// (YAML indented by two spaces, e.g. an engines: list)
	engines string
}

// freeAddr returns one loopback address whose port was free a moment ago;
// an instance's two listeners come from one testenv.FreeAddrs call.
func freeAddr(t testing.TB) string { return testenv.FreeAddrs(t, 1)[0] }

// newSetup prepares real services: an embedded NATS server, a fresh MinIO
// bucket, a master key.
func newSetup(t testing.TB, hs *homeserver) setup {
	_, bucket := testenv.S3Bucket(t)
	keyDir := t.TempDir()
	if err := sealed.GenerateKeyFile(filepath.Join(keyDir, "2026-11-23.key")); err != nil {
		t.Fatal(err)
	}
	kp, err := e2ee.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	scannerKey := filepath.Join(t.TempDir(), "content-scanner.key")
	if err := kp.WriteKeyFile(scannerKey); err != nil {
		t.Fatal(err)
	}
	return setup{natsURL: testenv.NATSURL(t), homeserver: hs.URL, bucket: bucket, keyDir: keyDir,
		dataDir: t.TempDir(), scannerKey: scannerKey, scannerPub: kp.PublicKeyBase64()}
}

// start writes the config and starts the binary, waiting for /healthz.
func start(t testing.TB, s setup) *instance {
	t.Helper()
	s3env := testenv.S3(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	access := write("access", s3env.AccessKey)
	secret := write("secret", s3env.SecretKey)
	in := &instance{t: t, logs: &bytes.Buffer{}}
	addrs := testenv.FreeAddrs(t, 2)
	listen, admin := addrs[0], addrs[1]
	cfg := fmt.Sprintf(`listen: %s
admin_listen: %s
data_dir: %s
embedded: false
server_names:
  - name: example.org
    hosts: [example.org, %s]
    homeserver: %s
auth:
  mode: whoami
  cache_ttl: 1s
  negative_ttl: 1s
storage:
  backend: s3
  s3:
    endpoint: %s
    bucket: %s
    access_key_file: %s
    secret_key_file: %s
    part_size: 5MiB
    concurrency: 2
keys:
  master_key_dir: %s
content_scanner:
  key_file: %s
  wait: %s
%snats:
  url: %s
scan:
  %s
  workers: 1
  stream_max_length: %d
  ack_wait: 5s
  upload_wait: %s
media:
  max_upload_size: 10MiB
  max_pending_creates: 3
  max_download_wait: 30s
%s`, listen, admin, s.dataDir, listen, s.homeserver, s3env.Endpoint, s.bucket, access, secret,
		s.keyDir, s.scannerKey, orDefault(s.scannerWait, "20s"), s.scannerExtra, s.natsURL, orDefault(s.engines, "clamd: "+testenv.ClamdAddr(t)), testenv.ClamdStreamMax(t), orDefault(s.uploadWait, "0s"), s.extra)
	in.cfgPath = write("config.yaml", cfg)
	in.URL, in.Admin = "http://"+listen, "http://"+admin
	in.start()
	return in
}

func (in *instance) start() {
	t := in.t
	t.Helper()
	prog := in.program
	if prog == "" {
		prog = "mediarepo"
	}
	in.cmd = exec.Command(filepath.Join(binDir, prog), "-config", in.cfgPath)
	in.cmd.Stdout, in.cmd.Stderr = in.logs, in.logs
	in.cmd.Env = append(os.Environ(), in.env...)
	if err := in.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(in.Admin + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) || in.cmd.ProcessState != nil {
			t.Fatalf("mediarepo did not become healthy: %v\n%s", err, in.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (in *instance) stop() {
	if in.cmd == nil || in.cmd.Process == nil {
		return
	}
	in.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { in.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		in.cmd.Process.Kill()
		<-done
	}
	if in.t.Failed() {
		in.t.Logf("mediarepo logs:\n%s", in.logs)
	}
	in.cmd = nil
}

// client is a mautrix client of a user against the instance.
func (in *instance) client(t testing.TB, user, token string) *mautrix.Client {
	c, err := mautrix.NewClient(in.URL, id.UserID(user), token)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// do sends a raw request and returns status, headers and body.
func do(t testing.TB, method, url, token string, body io.Reader, hdr map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// errcode decodes a Matrix error body.
func errcode(t testing.TB, body []byte) (string, string) {
	t.Helper()
	var e struct {
		ErrCode string `json:"errcode"`
		Reason  string `json:"reason"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("not a Matrix error: %q", body)
	}
	return e.ErrCode, e.Reason
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
