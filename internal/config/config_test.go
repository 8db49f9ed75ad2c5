package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultValidates(t *testing.T) {
	c := Default()
	c.Scan.Clamd = "tcp://127.0.0.1:3310"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestLoadStrictAndEnv(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("listen: 127.0.0.1:9000\nscan:\n  clamd: unix:///run/clamd.sock\n  stream_max_length: 200MiB\nmedia:\n  max_upload_size: 150M\n"), 0o600)
	env := map[string]string{"MEDIAREPO_DATA_DIR": "/srv/data"}
	c, err := Load(good, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9000" || c.DataDir != "/srv/data" || c.Media.MaxUploadSize != 150<<20 || c.Scan.StreamMaxLength != 200<<20 {
		t.Fatalf("unexpected %+v", c)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("listen: 127.0.0.1:9000\nlisten_typo: x\n"), 0o600)
	if _, err := Load(bad, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "listen_typo") {
		t.Fatalf("unknown key must fail: %v", err)
	}
}

func TestValidateReportsEverything(t *testing.T) {
	c := Default()
	c.Embedded = false
	c.Auth.Mode = "static"
	c.Media.MaxUploadSize = 3 << 30
	c.Scan.StreamMaxLength = 3 << 30
	c.Storage.Backend = "tape"
	err := c.Validate()
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{"auth.mode", "stream_max_length", "storage.backend", "master_key_dir", "nats.url", "scan.clamd"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

func TestUploadCapAboveClamdLimit(t *testing.T) {
	c := Default()
	c.Scan.Clamd = "tcp://127.0.0.1:3310"
	c.Media.MaxUploadSize = c.Scan.StreamMaxLength + 1
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "exceeds scan.stream_max_length") {
		t.Fatalf("upload cap above StreamMaxLength accepted: %v", err)
	}
}

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"0": 0, "10": 10, "10K": 10 << 10, "100MiB": 100 << 20, "2G": 2 << 30} {
		if got, err := ParseByteSize(in); err != nil || got != want {
			t.Errorf("%s: %d %v", in, got, err)
		}
	}
	for _, in := range []string{"", "-1", "ten", "1T"} {
		if _, err := ParseByteSize(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

// TestHostsClaimedTwiceCaseInsensitive: the host map is case-insensitive
// (Host headers are), so "Media.Example.org" and "media.example.org" are
// the same host and may not select two server names (issue 14, item 25).
func TestHostsClaimedTwiceCaseInsensitive(t *testing.T) {
	c := Default()
	c.Scan.Clamd = "tcp://127.0.0.1:3310"
	c.Servers = []ServerName{{Name: "a.org", Hosts: []string{"Media.Example.org"}}, {Name: "b.org", Hosts: []string{"media.example.ORG"}}}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "claimed twice") {
		t.Fatalf("a host differing only in case accepted for two server names: %v", err)
	}
	c.Servers = []ServerName{{Name: "A.org"}, {Name: "a.org"}}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "claimed twice") {
		t.Fatalf("default hosts differing only in case accepted: %v", err)
	}
}

func TestMaintenanceValidation(t *testing.T) {
	cfg := Default()
	cfg.Scan.Clamd = "tcp://127.0.0.1:3310"
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	cfg.Maintenance = Maintenance{Interval: Duration(time.Millisecond), OrphanGrace: Duration(time.Second), StuckAfter: 0}
	err := cfg.Validate()
	for _, want := range []string{"maintenance.interval", "maintenance.orphan_grace", "maintenance.stuck_after"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want a problem with %s", err, want)
		}
	}
}
