package e2e

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	mfed "maunium.net/go/mautrix/federation"

	"github.com/mediarepo/mediarepo/internal/e2ee"
	"github.com/mediarepo/mediarepo/internal/federation"
	"github.com/mediarepo/mediarepo/internal/testenv"
)

// front is what a homeserver's federation listener is to mediarepo: TLS on
// loopback, the server's keys at /_matrix/key/v2/server, and
// /_matrix/federation/ proxied to mediarepo (or answered by content, for
// a fake peer). Its "host:port" is the server name, so resolution needs
// neither .well-known nor DNS.
type front struct {
	srv      *httptest.Server
	name     string
	key      *mfed.SigningKey
	keyFile  string
	mu       sync.Mutex
	target   http.Handler
	requests atomic.Int64 // federation requests that reached the front
}

func newFront(t *testing.T) *front {
	t.Helper()
	f := &front{key: mfed.GenerateSigningKey()}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_matrix/key/v2/server" {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(f.key.GenerateKeyResponse(f.name, nil))
			return
		}
		if !strings.HasPrefix(r.URL.Path, "/_matrix/federation/") {
			http.NotFound(w, r)
			return
		}
		f.requests.Add(1)
		f.mu.Lock()
		h := f.target
		f.mu.Unlock()
		if h == nil {
			http.Error(w, "no target", http.StatusBadGateway)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	f.name = strings.TrimPrefix(f.srv.URL, "https://")
	f.keyFile = filepath.Join(t.TempDir(), "signing.key")
	if err := os.WriteFile(f.keyFile, []byte(f.key.SynapseString()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// proxyTo routes the front's federation requests to a mediarepo.
func (f *front) proxyTo(t *testing.T, in *instance) {
	u, err := url.Parse(in.URL)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.target = httputil.NewSingleHostReverseProxy(u)
	f.mu.Unlock()
}

// caFile writes the fronts' TLS certificate (httptest's, shared by all).
func caFile(t *testing.T, f *front) string {
	p := filepath.Join(t.TempDir(), "ca.pem")
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw})
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// startNamed starts a mediarepo serving server name name (instead of the
// harness's example.org) with the given federation section.
func startNamed(t *testing.T, hs *homeserver, name, fedYAML string) *instance {
	t.Helper()
	in := start(t, newSetup(t, hs))
	in.stop()
	b, err := os.ReadFile(in.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "  - name: example.org\n    hosts: [example.org, ", "  - name: "+name+"\n    hosts: [", 1)
	if cfg == string(b) {
		t.Fatal("the harness's config template changed: update startNamed")
	}
	if err := os.WriteFile(in.cfgPath, []byte(cfg+fedYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	in.start()
	return in
}

func fedYAML(keyFile, ca string, allowPrivate bool, peers ...string) string {
	list := "[]"
	if len(peers) > 0 {
		list = `["` + strings.Join(peers, `", "`) + `"]`
	}
	return fmt.Sprintf(`federation:
  enabled: true
  signing_key_file: %s
  ca_file: %s
  allow_private_addresses: %v
  allowed_peers: %s
  fetch_timeout: 30s
`, keyFile, ca, allowPrivate, list)
}

// TestFederation runs two mediarepo instances, A and B, each behind its own
// front (keys + federation proxy) and whoami stub, with distinct server
// names and signing keys; a fake peer C that serves EICAR; and a peer D
// outside both allow-lists.
func TestFederation(t *testing.T) {
	fa, fb, fc, fd := newFront(t), newFront(t), newFront(t), newFront(t)
	ca := caFile(t, fa)
	aliceA, bobB := "@alice:"+fa.name, "@bob:"+fb.name
	hsA := newHomeserver(t, map[string]string{"alice-a": aliceA})
	hsB := newHomeserver(t, map[string]string{"bob-b": bobB})
	a := startNamed(t, hsA, fa.name, fedYAML(fa.keyFile, ca, true, fb.name))
	b := startNamed(t, hsB, fb.name, fedYAML(fb.keyFile, ca, true, fa.name, fc.name))
	fa.proxyTo(t, a)
	fb.proxyTo(t, b)
	// C is a compromised peer: it answers every download with EICAR.
	fc.target = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mw := federation.NewMultipartWriter(w)
		w.Header().Set("Content-Type", mw.ContentType())
		mw.WriteMedia("text/plain", `attachment; filename="eicar.txt"`, bytes.NewReader(testenv.EICAR()))
	})
	ctx := context.Background()
	viaB := func(origin, id string) (int, http.Header, []byte) {
		return do(t, "GET", b.URL+"/_matrix/client/v1/media/download/"+origin+"/"+id+"?timeout_ms=30000", "bob-b", nil, nil)
	}

	t.Run("uploaded on A, downloaded by a user of B through B", func(t *testing.T) {
		// Text (hex), not random bytes: those would look encrypted.
		content := []byte("hello over federation " + hex.EncodeToString(testenv.Random(100<<10)))
		up, err := a.client(t, aliceA, "alice-a").UploadBytesWithName(ctx, content, "text/plain", "greeting.txt")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.client(t, aliceA, "alice-a").DownloadBytes(ctx, up.ContentURI); err != nil {
			t.Fatalf("A does not serve its own upload: %v", err)
		}
		before := fa.requests.Load()
		var wg sync.WaitGroup
		results := make([][]byte, 4)
		statuses := make([]int, 4)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses[i], _, results[i] = viaB(fa.name, up.ContentURI.FileID)
			}()
		}
		wg.Wait()
		for i := range results {
			if statuses[i] != 200 || !bytes.Equal(results[i], content) {
				t.Fatalf("request %d: %d, %d bytes (want %d): %.200s", i, statuses[i], len(results[i]), len(content), results[i])
			}
		}
		if n := fa.requests.Load() - before; n != 1 {
			t.Errorf("4 concurrent downloads made %d federation requests, want 1", n)
		}
		status, h, body := viaB(fa.name, up.ContentURI.FileID)
		if status != 200 || !bytes.Equal(body, content) || h.Get("Content-Type") != "text/plain" ||
			!strings.Contains(h.Get("Content-Disposition"), "greeting.txt") {
			t.Fatalf("cached download: %d %q %q", status, h.Get("Content-Type"), h.Get("Content-Disposition"))
		}
		if n := fa.requests.Load() - before; n != 1 {
			t.Errorf("the cached copy was fetched again (%d requests)", n)
		}
		// B never serves its cached copy of A's media to other servers.
		cl := federation.NewClient(federation.ClientOptions{ServerName: fa.name, Key: fa.key,
			Policy: federation.AddrPolicy{AllowPrivate: true}, RootCAs: pool(fa), MaxSize: 1 << 20})
		if _, err := cl.Download(ctx, fb.name, up.ContentURI.FileID); err == nil || !strings.Contains(err.Error(), "404") {
			t.Errorf("B re-served A's media: %v", err)
		}
	})

	t.Run("EICAR on A never reaches B's user", func(t *testing.T) {
		up, err := a.client(t, aliceA, "alice-a").UploadBytes(ctx, testenv.EICAR(), "text/plain")
		if err != nil {
			t.Fatal(err)
		}
		status, _, body := viaB(fa.name, up.ContentURI.FileID)
		if status == 200 || bytes.Contains(body, []byte("EICAR")) {
			t.Fatalf("EICAR from A served by B: %d %q", status, body)
		}
	})

	t.Run("EICAR served by a peer is scanned and quarantined on B", func(t *testing.T) {
		status, _, body := viaB(fc.name, "evil")
		if status != 403 || bytes.Contains(body, []byte("EICAR")) {
			t.Fatalf("EICAR from C: %d %q", status, body)
		}
		if _, reason := errcode(t, body); reason != "MCS_MEDIA_NOT_CLEAN" {
			t.Fatalf("EICAR from C: reason %q", reason)
		}
		if fc.requests.Load() != 1 {
			t.Errorf("C got %d requests", fc.requests.Load())
		}
	})

	t.Run("encrypted attachment of A checked with its key by B's content scanner", func(t *testing.T) {
		plain := []byte("an encrypted attachment crossing the federation " + hex.EncodeToString(testenv.Random(64)))
		ct, f, err := e2ee.EncryptAttachment(plain, "mxc://placeholder/x")
		if err != nil {
			t.Fatal(err)
		}
		up, err := a.client(t, aliceA, "alice-a").UploadBytes(ctx, ct, "application/octet-stream")
		if err != nil {
			t.Fatal(err)
		}
		f.URL = up.ContentURI.String()
		// ciphertext: B's plain endpoints refuse it (opaque_content: refuse) …
		status, _, body := viaB(fa.name, up.ContentURI.FileID)
		if code, reason := errcode(t, body); status != 403 || code != "M_FORBIDDEN" || reason != "MCS_MEDIA_NOT_CLEAN" {
			t.Fatalf("plain download of remote ciphertext: %d %s", status, body)
		}
		// … but A serves it to B as ciphertext, and B's scanner checks the plaintext with the key
		status, body = postJSON(t, b.URL+mcs+"/scan_encrypted", "bob-b", map[string]any{"file": f})
		if clean, _, _ := mcsAnswer(t, body); status != 200 || !clean {
			t.Fatalf("scan_encrypted on B: %d %s", status, body)
		}
		status, dl := postJSON(t, b.URL+mcs+"/download_encrypted", "bob-b", map[string]any{"file": f})
		if got, err := decryptAll(dl, f); status != 200 || err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("download_encrypted on B: %d %v", status, err)
		}
	})

	t.Run("thumbnail of A's image for a user of B", func(t *testing.T) {
		up, err := a.client(t, aliceA, "alice-a").UploadBytes(ctx, testenv.PNG(t, 800, 600), "image/png")
		if err != nil {
			t.Fatal(err)
		}
		status, h, body := do(t, "GET", b.URL+"/_matrix/client/v1/media/thumbnail/"+fa.name+"/"+up.ContentURI.FileID+"?width=96&height=96&method=crop&timeout_ms=30000", "bob-b", nil, nil)
		if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "image/") {
			t.Fatalf("remote thumbnail: %d %s", status, body)
		}
		resp, err := fa.srv.Client().Get(fa.srv.URL + "/_matrix/federation/v1/media/thumbnail/" + up.ContentURI.FileID + "?width=32&height=32")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("unsigned federation thumbnail: %d", resp.StatusCode)
		}
	})

	t.Run("bad signature refused", func(t *testing.T) {
		signedOnly := strings.Repeat("served to signed requests only. ", 20)
		up, err := a.client(t, aliceA, "alice-a").UploadBytes(ctx, []byte(signedOnly), "text/plain")
		if err != nil {
			t.Fatal(err)
		}
		forged := mfed.GenerateSigningKey()
		forged.ID = fb.key.ID // claims B's key ID, signs with another key
		cl := federation.NewClient(federation.ClientOptions{ServerName: fb.name, Key: forged,
			Policy: federation.AddrPolicy{AllowPrivate: true}, RootCAs: pool(fa), MaxSize: 1 << 20})
		if _, err := cl.Download(ctx, fa.name, up.ContentURI.FileID); err == nil || !strings.Contains(err.Error(), "401 M_UNAUTHORIZED") {
			t.Fatalf("forged signature: %v", err)
		}
		resp, err := fa.srv.Client().Get(fa.srv.URL + "/_matrix/federation/v1/media/download/" + up.ContentURI.FileID)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if code, _ := errcode(t, body); resp.StatusCode != 401 || code != "M_UNAUTHORIZED" {
			t.Fatalf("unsigned: %d %s", resp.StatusCode, body)
		}
		// The genuine key works.
		cl = federation.NewClient(federation.ClientOptions{ServerName: fb.name, Key: fb.key,
			Policy: federation.AddrPolicy{AllowPrivate: true}, RootCAs: pool(fa), MaxSize: 1 << 20})
		m, err := cl.Download(ctx, fa.name, up.ContentURI.FileID)
		if err != nil {
			t.Fatalf("genuine signature: %v", err)
		}
		got, err := io.ReadAll(m.Body)
		m.Body.Close()
		if err != nil || string(got) != signedOnly {
			t.Fatalf("genuine: %q %v", got, err)
		}
	})

	t.Run("peer outside the allow-list refused both ways", func(t *testing.T) {
		up, err := a.client(t, aliceA, "alice-a").UploadBytes(ctx, []byte("for friends"), "text/plain")
		if err != nil {
			t.Fatal(err)
		}
		// D signs correctly, but A does not federate with D.
		cl := federation.NewClient(federation.ClientOptions{ServerName: fd.name, Key: fd.key,
			Policy: federation.AddrPolicy{AllowPrivate: true}, RootCAs: pool(fa), MaxSize: 1 << 20})
		if _, err := cl.Download(ctx, fa.name, up.ContentURI.FileID); err == nil || !strings.Contains(err.Error(), "403 M_FORBIDDEN") {
			t.Fatalf("D served by A: %v", err)
		}
		// B's user asks for D's media: B never contacts D.
		status, _, body := viaB(fd.name, "anything")
		if code, _ := errcode(t, body); status != 403 || code != "M_FORBIDDEN" {
			t.Fatalf("B fetched from D: %d %s", status, body)
		}
		if fd.requests.Load() != 0 {
			t.Fatalf("D was contacted %d times", fd.requests.Load())
		}
	})
}

// TestFederationSSRF: with private addresses not allowed, a server name
// that is or resolves to loopback or link-local is never connected to.
func TestFederationSSRF(t *testing.T) {
	fa := newFront(t)
	name := "ssrf.test"
	hs := newHomeserver(t, map[string]string{"carol-s": "@carol:" + name})
	s := startNamed(t, hs, name, fedYAML(fa.keyFile, caFile(t, fa), false))
	_, port, _ := strings.Cut(fa.name, ":")
	for _, origin := range []string{fa.name, "localhost:" + port, "169.254.169.254", "169.254.169.254:80", "[::1]:" + port, "10.0.0.1"} {
		status, _, body := do(t, "GET", s.URL+"/_matrix/client/v1/media/download/"+origin+"/x?timeout_ms=1000", "carol-s", nil, nil)
		if status != 502 || !strings.Contains(string(body), "not allowed") {
			t.Errorf("%s: %d %s", origin, status, body)
		}
	}
	if fa.requests.Load() != 0 {
		t.Fatalf("a loopback server was reached %d times", fa.requests.Load())
	}
}

func pool(f *front) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(f.srv.Certificate())
	return p
}
