package deploycheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDockerfilesFollowTheRules(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repoRoot, "deploy", "docker", "*.Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("want the mediarepo and scanworker Dockerfiles, have %v", files)
	}
	p := loadRepoCompose(t)
	for _, name := range hardenedServices {
		df := filepath.Join(repoRoot, p.Services[name].Build.Dockerfile)
		if _, err := os.Stat(df); err != nil {
			t.Errorf("service %s: %v", name, err)
		}
		if _, err := os.Stat(df + ".dockerignore"); err != nil {
			t.Errorf("service %s: no %s.dockerignore: local keys and tokens would enter the build context", name, filepath.Base(df))
		}
	}
	for _, f := range files {
		src, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		probs, err := dockerfileProblems(src)
		src.Close()
		if err != nil {
			t.Errorf("%s: BuildKit parser: %v", f, err)
		}
		for _, prob := range probs {
			t.Errorf("%s: %s", f, prob)
		}
	}
}

func TestDockerfileProblemsReportsBreakage(t *testing.T) {
	const bad = `FROM golang:1.26
ARG GITHUB_TOKEN=ghp_123
ENV S3_SECRET_KEY=abc
RUN go build -o /mediarepo ./cmd/mediarepo
USER root
`
	probs, err := dockerfileProblems(strings.NewReader(bad))
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(probs, "\n")
	for _, want := range []string{"multi-stage", "ARG GITHUB_TOKEN", "ENV S3_SECRET_KEY", "CGO_ENABLED=0", "USER must name an unprivileged user", "COPY --from", "SBOM"} {
		if !strings.Contains(all, want) {
			t.Errorf("problems lack %q; have:\n%s", want, all)
		}
	}
}
