package deploycheck

import (
	"context"
	"fmt"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// hardenedServices run our own images: read-only, unprivileged, secrets
// as files.
var hardenedServices = []string{"mediarepo", "scanworker"}

// adminPort is mediarepo's admin listener (officers, /metrics): never
// published beyond the host's loopback, never routed by the proxy.
const adminPort = 8009

// secretName matches environment variable names that would carry a secret.
var secretName = regexp.MustCompile(`(?i)(KEY|SECRET|PASSWORD|PASSWD|TOKEN)`)

// loadCompose parses the compose file at file with the compose-spec loader
// (interpolation with an empty environment, schema validation on).
func loadCompose(ctx context.Context, file string) (*types.Project, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, err
	}
	details := types.ConfigDetails{
		WorkingDir:  filepath.Dir(abs),
		ConfigFiles: []types.ConfigFile{{Filename: abs}},
		Environment: types.Mapping{},
	}
	return loader.LoadWithContext(ctx, details, func(o *loader.Options) {
		o.SetProjectName("mediarepo", true)
	})
}

// secretPath is where a service's secret appears in its container.
func secretPath(s types.ServiceSecretConfig) string {
	switch {
	case s.Target == "":
		return "/run/secrets/" + s.Source
	case path.IsAbs(s.Target):
		return s.Target
	default:
		return "/run/secrets/" + s.Target
	}
}

// composeProblems lists what breaks the deployment rules in p.
func composeProblems(p *types.Project) []string {
	var probs []string
	bad := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }

	names := slices.Sorted(func(yield func(string) bool) {
		for n := range p.Services {
			if !yield(n) {
				return
			}
		}
	})
	for _, name := range names {
		s := p.Services[name]
		if s.Image == "" && s.Build == nil {
			bad("service %s: neither image nor build", name)
		}
		for k, v := range s.Environment {
			if secretName.MatchString(k) && !strings.HasSuffix(k, "_FILE") && v != nil && *v != "" {
				bad("service %s: environment %s carries a value; secrets come from mounted files", name, k)
			}
		}
		for _, port := range s.Ports {
			if port.Target == adminPort && port.Published != "" && !isLoopback(port.HostIP) {
				bad("service %s: admin port %d published on %q; bind it to 127.0.0.1 or do not publish it", name, adminPort, port.HostIP)
			}
		}
	}
	for _, name := range hardenedServices {
		s, ok := p.Services[name]
		if !ok {
			bad("service %s: missing", name)
			continue
		}
		if !s.ReadOnly {
			bad("service %s: read_only must be true", name)
		}
		if isRootUser(s.User) {
			bad("service %s: user must be set to an unprivileged user (have %q)", name, s.User)
		}
		if !slices.Contains(s.CapDrop, "ALL") {
			bad("service %s: cap_drop must contain ALL", name)
		}
		if !slices.ContainsFunc(s.SecurityOpt, func(o string) bool { return strings.HasPrefix(o, "no-new-privileges") }) {
			bad("service %s: security_opt must contain no-new-privileges", name)
		}
		if s.Build == nil || !strings.HasPrefix(s.Build.Dockerfile, "deploy/docker/") {
			bad("service %s: must be built from a Dockerfile in deploy/docker", name)
		}
		if len(s.Secrets) == 0 {
			bad("service %s: mounts no secrets", name)
		}
		for _, port := range s.Ports {
			if port.Target != adminPort {
				bad("service %s: port %d published; only the proxy is public", name, port.Target)
			}
		}
	}
	for name, sec := range p.Secrets {
		if sec.File == "" {
			bad("secret %s: must be a file (not environment or content)", name)
		}
	}
	return probs
}

func isLoopback(hostIP string) bool {
	return hostIP == "127.0.0.1" || hostIP == "::1" || strings.HasPrefix(hostIP, "127.")
}

func isRootUser(user string) bool {
	u, _, _ := strings.Cut(strings.TrimSpace(user), ":")
	return u == "" || u == "0" || u == "root"
}
