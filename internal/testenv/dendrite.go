package testenv

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Environment variables of the Dendrite build (scripts/lib/dendrite.bash).
const (
	EnvDendriteBin            = "MEDIAREPO_TEST_DENDRITE_BIN"
	EnvDendriteGenerateConfig = "MEDIAREPO_TEST_DENDRITE_GENERATE_CONFIG"
	EnvDendriteGenerateKeys   = "MEDIAREPO_TEST_DENDRITE_GENERATE_KEYS"
)

// Dendrite is a real Dendrite homeserver on loopback for one test: its own
// generated config (Dendrite's CI defaults: open registration, no rate
// limits, in-memory JetStream), signing key and SQLite databases. It is
// stopped when the test ends.
type Dendrite struct {
	// URL is its client-server API, http://127.0.0.1:PORT.
	URL string
	// ServerName is its Matrix server name.
	ServerName string
	// Dir holds its config, key, databases and media store.
	Dir string
	// RegistrationSecret is the shared secret for admin registration.
	RegistrationSecret string

	bin  string
	args []string
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs bytes.Buffer
	done chan struct{}
}

// Write collects Dendrite's output for failure messages.
func (d *Dendrite) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.logs.Len() < 4<<20 {
		d.logs.Write(p)
	}
	return len(p), nil
}

// Logs returns what Dendrite printed so far.
func (d *Dendrite) Logs() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.logs.String()
}

// StartDendrite generates a configuration for serverName and starts
// Dendrite on a free loopback port, waiting until it answers
// /_matrix/client/versions.
func StartDendrite(t testing.TB, serverName string) *Dendrite {
	t.Helper()
	bin := Getenv(t, EnvDendriteBin)
	genConfig := Getenv(t, EnvDendriteGenerateConfig)
	genKeys := Getenv(t, EnvDendriteGenerateKeys)
	dir := t.TempDir()
	run := func(name string, args ...string) []byte {
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", filepath.Base(name), args, err, stderr.String())
		}
		return out
	}
	run(genKeys, "-private-key", filepath.Join(dir, "matrix_key.pem"))
	cfg := string(run(genConfig, "-ci", "-dir", dir, "-server", serverName))
	// The CI defaults log at trace level to stdout; warnings are enough.
	cfg = strings.ReplaceAll(cfg, "level: trace", "level: warn")
	cfg = strings.ReplaceAll(cfg, "private_key: matrix_key.pem", "private_key: "+filepath.Join(dir, "matrix_key.pem"))
	cfgPath := filepath.Join(dir, "dendrite.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	d := &Dendrite{URL: "http://" + addr, ServerName: serverName, Dir: dir, RegistrationSecret: "complement",
		bin: bin, args: []string{"-config", cfgPath, "-http-bind-address", addr, "-https-bind-address", "127.0.0.1:0",
			"-really-enable-open-registration"}}
	t.Cleanup(func() {
		d.Stop()
		if t.Failed() {
			t.Logf("dendrite logs:\n%s", d.Logs())
		}
	})
	d.launch(t)
	return d
}

// launch starts the process and waits until it answers.
func (d *Dendrite) launch(t testing.TB) {
	t.Helper()
	d.done = make(chan struct{})
	d.cmd = exec.Command(d.bin, d.args...)
	d.cmd.Dir = d.Dir
	d.cmd.Stdout, d.cmd.Stderr = d, d
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("starting dendrite: %v", err)
	}
	cmd, done := d.cmd, d.done
	go func() { _ = cmd.Wait(); close(done) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-d.done:
			t.Fatalf("dendrite exited during start:\n%s", d.Logs())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.URL+"/_matrix/client/versions", nil)
		resp, err := http.DefaultClient.Do(req)
		cancel()
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("dendrite did not answer within 60 s: %v\n%s", err, d.Logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Stop stops Dendrite (SIGTERM, SIGKILL after 10 s) and waits for it to
// exit; its databases and media store stay. Stopping a stopped instance
// does nothing.
func (d *Dendrite) Stop() {
	if d.cmd == nil {
		return
	}
	stopProcess(d.cmd.Process, d.done)
	d.cmd = nil
}

// stopProcess sends SIGTERM to p and waits until exited is closed,
// killing p after 10 s.
func stopProcess(p *os.Process, exited <-chan struct{}) {
	_ = p.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = p.Kill()
		<-exited
	}
}

// Restart starts a stopped Dendrite again with the same configuration,
// port and data, waiting until it answers.
func (d *Dendrite) Restart(t testing.TB) {
	t.Helper()
	d.Stop()
	d.launch(t)
}

// MediaDatabase is the SQLite file of Dendrite's media API
// (mediaapi_media_repository), as its generated configuration names it.
func (d *Dendrite) MediaDatabase() string { return filepath.Join(d.Dir, "dendrite_mediaapi.db") }

// MediaStore is Dendrite's media_api.base_path.
func (d *Dendrite) MediaStore() string { return filepath.Join(d.Dir, "media") }

// String names the instance in messages.
func (d *Dendrite) String() string { return fmt.Sprintf("dendrite %s at %s", d.ServerName, d.URL) }
