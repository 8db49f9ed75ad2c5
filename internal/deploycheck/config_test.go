package deploycheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/mediarepo/mediarepo/internal/config"
	"github.com/mediarepo/mediarepo/internal/e2ee"
	"github.com/mediarepo/mediarepo/internal/sealed"
)

// makeSecrets runs deploy/compose/make-secrets in a copy under a temporary
// directory and returns the directory holding the files it made.
func makeSecrets(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join(composeDir, "make-secrets"))
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "make-secrets")
	if err := os.WriteFile(script, src, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("bash", script).CombinedOutput(); err != nil {
		t.Fatalf("make-secrets: %v\n%s", err, out)
	}
	return filepath.Join(dir, "secrets")
}

// loadComposeConfig loads the mediarepo YAML that service mounts with
// config.Load (strict decoding, environment overrides from the service's
// environment, Validate), after placing the secret files make-secrets
// makes where the service's secrets put them, under a temporary root.
func loadComposeConfig(t *testing.T, p *types.Project, service string) config.Config {
	t.Helper()
	s := p.Services[service]
	if !slices.Equal(s.Command, types.ShellCommand{"-config", "/etc/mediarepo/mediarepo.yaml"}) {
		t.Fatalf("service %s: command %v, want -config /etc/mediarepo/mediarepo.yaml", service, s.Command)
	}
	var yamlPath string
	for _, v := range s.Volumes {
		if v.Target == "/etc/mediarepo/mediarepo.yaml" {
			yamlPath = v.Source
			if !v.ReadOnly {
				t.Errorf("service %s: mount the configuration read-only", service)
			}
		}
	}
	if yamlPath == "" {
		t.Fatalf("service %s mounts no /etc/mediarepo/mediarepo.yaml", service)
	}

	secrets := makeSecrets(t)
	root := t.TempDir()
	for _, sec := range s.Secrets {
		top, ok := p.Secrets[sec.Source]
		if !ok {
			t.Fatalf("service %s: secret %s is not declared", service, sec.Source)
		}
		b, err := os.ReadFile(filepath.Join(secrets, filepath.Base(top.File)))
		if err != nil {
			t.Fatalf("secret %s: make-secrets made no %s: %v", sec.Source, filepath.Base(top.File), err)
		}
		dst := filepath.Join(root, secretPath(sec))
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(yamlPath)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(t.TempDir(), "mediarepo.yaml")
	if err := os.WriteFile(cfgPath, []byte(strings.ReplaceAll(string(raw), "/run/secrets/", root+"/run/secrets/")), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(name string) string {
		if v, ok := s.Environment[name]; ok && v != nil {
			return *v
		}
		return ""
	}
	cfg, err := config.Load(cfgPath, env)
	if err != nil {
		t.Fatalf("service %s: config.Load(%s): %v", service, yamlPath, err)
	}
	return cfg
}

func TestComposeConfigLoadsWithItsSecrets(t *testing.T) {
	p := loadRepoCompose(t)
	for _, service := range hardenedServices {
		t.Run(service, func(t *testing.T) {
			cfg := loadComposeConfig(t, p, service)
			if cfg.Embedded || cfg.Auth.Mode != "whoami" || cfg.Storage.Backend != "s3" || cfg.NATS.URL == "" {
				t.Errorf("not the separate-services mode: embedded %v, auth %s, storage %s, nats %q",
					cfg.Embedded, cfg.Auth.Mode, cfg.Storage.Backend, cfg.NATS.URL)
			}
			if _, err := cfg.Catalog.Postgres.DSN(); cfg.Catalog.Backend != "postgres" || err != nil {
				t.Errorf("catalog: backend %q, DSN file: %v (want PostgreSQL with its DSN mounted)", cfg.Catalog.Backend, err)
			}
			for _, f := range []string{cfg.Storage.S3.AccessKeyFile, cfg.Storage.S3.SecretKeyFile} {
				if b, err := os.ReadFile(f); err != nil || len(strings.TrimSpace(string(b))) == 0 {
					t.Errorf("S3 credential file %s: not mounted or empty (%v)", f, err)
				}
			}
			if _, err := sealed.LoadKeyring(cfg.Keys.MasterKeyDir); err != nil {
				t.Errorf("master keys mounted at %s: %v", cfg.Keys.MasterKeyDir, err)
			}
			if _, err := e2ee.LoadKeyPair(cfg.ContentScanner.KeyFile); err != nil {
				t.Errorf("content-scanner key mounted at %s: %v", cfg.ContentScanner.KeyFile, err)
			}
			if service == "scanworker" && (cfg.Scan.Workers < 1 || cfg.Scan.Clamd == "") {
				t.Errorf("scanworker: workers %d, clamd %q", cfg.Scan.Workers, cfg.Scan.Clamd)
			}
			if service == "mediarepo" && cfg.Scan.Workers != 0 {
				t.Errorf("mediarepo scans in-process (workers %d) although scanworkers run", cfg.Scan.Workers)
			}
		})
	}
}
