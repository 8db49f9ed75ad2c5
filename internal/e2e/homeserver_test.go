package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mediarepo/mediarepo/internal/testenv"
)

// Environment of the client library and the proxy (scripts/lib/jssdk.bash,
// scripts/lib/caddy.bash).
const (
	envJSSDKDir = "MEDIAREPO_TEST_JSSDK_DIR"
	envNode     = "MEDIAREPO_TEST_NODE"
	envCaddy    = "MEDIAREPO_TEST_CADDY_BIN"
)

// shippedCaddyfile turns deploy/compose/Caddyfile into one for this test:
// the same routes, with the listener, mediarepo and the homeserver on
// loopback, and Caddy's admin endpoint off.
func shippedCaddyfile(t *testing.T, listen, mediarepo, homeserver string) string {
	t.Helper()
	raw, err := os.ReadFile("../../deploy/compose/Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	for _, r := range []struct{ old, new string }{
		{"auto_https off", "auto_https off\n\tadmin off\n\tdefault_bind 127.0.0.1"},
		{":8080 {", ":" + listen[strings.LastIndex(listen, ":")+1:] + " {"},
		{"reverse_proxy mediarepo:8008", "reverse_proxy " + mediarepo},
		{"reverse_proxy synapse:8008", "reverse_proxy " + homeserver},
	} {
		if !strings.Contains(s, r.old) {
			t.Fatalf("the shipped Caddyfile no longer has %q; update this test with it", r.old)
		}
		s = strings.Replace(s, r.old, r.new, 1)
	}
	return s
}

// startCaddy runs Debian's Caddy with the shipped routes.
func startCaddy(t *testing.T, mediarepo, homeserver string) string {
	t.Helper()
	bin := testenv.Getenv(t, envCaddy)
	listen := freeAddr(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(conf, []byte(shippedCaddyfile(t, listen, mediarepo, homeserver)), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd := exec.Command(bin, "run", "--config", conf, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-done
		if t.Failed() {
			t.Logf("caddy logs:\n%s", logs.String())
		}
	})
	for deadline := time.Now().Add(20 * time.Second); ; {
		if c, err := net.DialTimeout("tcp", listen, time.Second); err == nil {
			c.Close()
			return "http://" + listen
		}
		select {
		case <-done:
			t.Fatalf("caddy exited:\n%s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("caddy did not listen on %s", listen)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRealHomeserverWithJSSDK: Dendrite behind Caddy with the shipped
// routes, mediarepo on the media paths, and matrix-js-sdk as the client:
// two users register and share a room, an m.image is downloaded with its
// thumbnails through authenticated media, a link preview works, EICAR is
// refused, and a logged-out token stops working within auth.cache_ttl.
func TestRealHomeserverWithJSSDK(t *testing.T) {
	jssdk := testenv.Getenv(t, envJSSDKDir)
	node := testenv.Getenv(t, envNode)
	dendrite := testenv.StartDendrite(t, "example.org")

	image := testenv.PNG(t, 400, 300)
	site := previewSite(t, testenv.PNG(t, 64, 64), nil, nil)

	s := newSetup(t, newHomeserver(t, nil))
	s.homeserver = dendrite.URL // tokens are checked by Dendrite's whoami (auth.cache_ttl: 1s)
	s.extra = `url_preview:
  enabled: true
  allow_private_addresses: true
`
	in := start(t, s)
	proxy := startCaddy(t, strings.TrimPrefix(in.URL, "http://"), strings.TrimPrefix(dendrite.URL, "http://"))

	// Through the proxy, the homeserver answers the client API and
	// mediarepo the media API (its config, not Dendrite's).
	if status, _, body := do(t, "GET", proxy+"/_matrix/client/versions", "", nil, nil); status != 200 || !strings.Contains(string(body), "versions") {
		t.Fatalf("client API through the proxy: %d %s", status, body)
	}

	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "testdata/jssdk-flow.mjs")
	cmd.Env = append(os.Environ(), "JSSDK_DIR="+jssdk, "BASE_URL="+proxy,
		"IMAGE="+write("cat.png", image), "EICAR="+write("eicar.com", testenv.EICAR()),
		"PREVIEW_URL="+site.URL+"/article", "PREVIEW_TITLE=Cats", "AUTH_CACHE_MS=1000")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	steps := map[string]map[string]any{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue // the SDK's own log lines
		}
		if e, ok := line["error"]; ok {
			t.Fatalf("matrix-js-sdk flow failed: %v\n%s", e, stderr.String())
		}
		if step, ok := line["step"].(string); ok {
			steps[step] = line
			t.Logf("%s", sc.Bytes())
		}
	}
	if err != nil {
		t.Fatalf("node: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.String())
	}
	for _, step := range []string{"registered", "joined", "sent", "downloaded", "thumbnail", "preview", "eicar_refused", "logged_out", "done"} {
		if _, ok := steps[step]; !ok {
			t.Errorf("step %s did not happen:\n%s", step, out)
		}
	}
	if ms, _ := steps["logged_out"]["refused_after_ms"].(float64); ms > 1000+1500 {
		t.Errorf("the logged-out token was refused after %.0f ms; auth.cache_ttl is 1 s", ms)
	}
	uri, _ := steps["sent"]["content_uri"].(string)
	if !strings.HasPrefix(uri, "mxc://example.org/") {
		t.Fatalf("content URI %q", uri)
	}
	// The image was stored by mediarepo, not by Dendrite's own media API
	// (which cannot be switched off: only the proxy keeps it unreachable).
	if _, err := os.Stat(filepath.Join(dendrite.Dir, "media")); err == nil {
		entries, _ := os.ReadDir(filepath.Join(dendrite.Dir, "media"))
		for _, e := range entries {
			if e.IsDir() && e.Name() != "tmp" {
				t.Errorf("Dendrite stored media itself (%s): the proxy routed an upload to it", e.Name())
			}
		}
	}
}
