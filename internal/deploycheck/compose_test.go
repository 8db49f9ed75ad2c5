package deploycheck

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"gopkg.in/yaml.v3"

	"github.com/mediarepo/mediarepo/internal/config"
)

const repoRoot = "../.."

var composeDir = filepath.Join(repoRoot, "deploy", "compose")

func loadRepoCompose(t *testing.T) *types.Project {
	t.Helper()
	p, err := loadCompose(context.Background(), filepath.Join(composeDir, "docker-compose.yml"))
	if err != nil {
		t.Fatalf("compose-spec loader: %v", err)
	}
	return p
}

func TestComposeFileFollowsTheRules(t *testing.T) {
	p := loadRepoCompose(t)
	for _, want := range []string{"seaweedfs", "postgres", "nats", "clamd", "freshclam", "mediarepo", "scanworker", "synapse", "proxy"} {
		if _, ok := p.Services[want]; !ok {
			t.Errorf("service %s is missing", want)
		}
	}
	for _, prob := range composeProblems(p) {
		t.Error(prob)
	}
	// Only the proxy is public; mediarepo's admin port is on loopback.
	for name, s := range p.Services {
		for _, port := range s.Ports {
			if name != "proxy" && !isLoopback(port.HostIP) {
				t.Errorf("service %s publishes %d on %q; only the proxy may be public", name, port.Target, port.HostIP)
			}
		}
	}
}

func TestComposeProblemsReportsBreakage(t *testing.T) {
	p := loadRepoCompose(t)
	mr := p.Services["mediarepo"]
	mr.ReadOnly = false
	mr.User = "root"
	token := "hunter2"
	mr.Environment = types.MappingWithEquals{"MEDIAREPO_ACCESS_TOKEN": &token}
	mr.Ports = append(mr.Ports, types.ServicePortConfig{Target: adminPort, Published: "8009", HostIP: "0.0.0.0"})
	p.Services["mediarepo"] = mr
	sw := p.Services["scanworker"]
	sw.Build, sw.Image = nil, ""
	p.Services["scanworker"] = sw
	p.Secrets["leaky"] = types.SecretConfig{Environment: "LEAKY"}

	probs := strings.Join(composeProblems(p), "\n")
	for _, want := range []string{
		"service mediarepo: read_only must be true",
		"service mediarepo: user must be set",
		"service mediarepo: environment MEDIAREPO_ACCESS_TOKEN carries a value",
		"service mediarepo: admin port 8009 published on \"0.0.0.0\"",
		"service scanworker: neither image nor build",
		"secret leaky: must be a file",
	} {
		if !strings.Contains(probs, want) {
			t.Errorf("problems lack %q; have:\n%s", want, probs)
		}
	}
}

// confValue returns the value of a "Key value" line of a clamd or nats
// style config file.
func confValue(t *testing.T, file, key string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(key) + `\s*:?\s+(\S+)`)
	m := re.FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s: no %s", file, key)
	}
	return string(m[1])
}

func TestClamdAndNATSConfigsMatchMediarepo(t *testing.T) {
	p := loadRepoCompose(t)
	cfg := loadComposeConfig(t, p, "mediarepo")

	clamdConf := filepath.Join(composeDir, "clamd.conf")
	streamMax, err := config.ParseByteSize(confValue(t, clamdConf, "StreamMaxLength"))
	if err != nil {
		t.Fatal(err)
	}
	if int64(streamMax) < int64(cfg.Scan.StreamMaxLength) || int64(streamMax) < int64(cfg.Media.MaxUploadSize) {
		t.Errorf("clamd StreamMaxLength %d < mediarepo's stream_max_length %d or max_upload_size %d",
			streamMax, cfg.Scan.StreamMaxLength, cfg.Media.MaxUploadSize)
	}
	if cfg.Scan.Clamd != "tcp://clamd:"+confValue(t, clamdConf, "TCPSocket") {
		t.Errorf("scan.clamd %q does not name clamd's TCPSocket", cfg.Scan.Clamd)
	}
	for _, key := range []string{"AlertExceedsMax", "AlertEncrypted"} {
		if v := confValue(t, clamdConf, key); v != "yes" {
			t.Errorf("clamd.conf: %s %s, want yes (fail closed)", key, v)
		}
	}
	tmp := confValue(t, clamdConf, "TemporaryDirectory")
	if !slices.ContainsFunc(p.Services["clamd"].Tmpfs, func(m string) bool { return strings.HasPrefix(m, tmp+":") || m == tmp }) {
		t.Errorf("clamd's TemporaryDirectory %s is not a tmpfs of the clamd service (have %v)", tmp, p.Services["clamd"].Tmpfs)
	}
	if v := confValue(t, filepath.Join(composeDir, "nats.conf"), "sync_interval"); v != "always" {
		t.Errorf("nats.conf: sync_interval %s, want always", v)
	}
}

func TestHomeserverHasNoMediaRepository(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(composeDir, "homeserver.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var hs struct {
		ServerName      string `yaml:"server_name"`
		EnableMediaRepo *bool  `yaml:"enable_media_repo"`
		SecretPath      string `yaml:"registration_shared_secret_path"`
		Secret          string `yaml:"registration_shared_secret"`
	}
	if err := yaml.Unmarshal(b, &hs); err != nil {
		t.Fatal(err)
	}
	if hs.EnableMediaRepo == nil || *hs.EnableMediaRepo {
		t.Error("homeserver.yaml: enable_media_repo must be false")
	}
	if hs.Secret != "" || hs.SecretPath == "" {
		t.Error("homeserver.yaml: the registration secret must come from a file (registration_shared_secret_path)")
	}
	cfg := loadComposeConfig(t, loadRepoCompose(t), "mediarepo")
	if cfg.Servers[0].Name != hs.ServerName {
		t.Errorf("mediarepo serves %q, the homeserver is %q", cfg.Servers[0].Name, hs.ServerName)
	}
}

// Every image compose pulls is pinned to a tag (never latest, never
// MinIO's, whose images are no longer published) and listed in the README's
// compose section, which says how each tag was checked.
func TestComposeImagesArePinnedAndListed(t *testing.T) {
	p := loadRepoCompose(t)
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range p.Services {
		if s.Build != nil {
			continue
		}
		repo, tag, ok := strings.Cut(s.Image, ":")
		if !ok || tag == "" || tag == "latest" || strings.Contains(repo, "minio") {
			t.Errorf("service %s: image %q must be pinned to a published tag", name, s.Image)
		}
		if !strings.Contains(string(readme), "`"+s.Image+"`") {
			t.Errorf("service %s: image %s is not listed in the README", name, s.Image)
		}
	}
}
