package deploycheck

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// dockerfileProblems parses a Dockerfile with BuildKit's parser and lists
// what breaks the image rules: several stages, a static Go build
// (CGO_ENABLED=0), a final stage that copies from an earlier one and runs
// as a non-root USER, and no ENV or ARG that carries a secret.
func dockerfileProblems(src io.Reader) ([]string, error) {
	res, err := parser.Parse(src)
	if err != nil {
		return nil, err
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, err
	}
	var probs []string
	bad := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }

	for _, a := range metaArgs {
		for _, kv := range a.Args {
			if secretName.MatchString(kv.Key) && kv.Value != nil && *kv.Value != "" {
				bad("ARG %s carries a value; secrets are mounted at run time", kv.Key)
			}
		}
	}
	if len(stages) < 2 {
		bad("want a multi-stage build, have %d stage(s)", len(stages))
	}
	staticBuild := false
	for _, st := range stages {
		for _, cmd := range st.Commands {
			switch c := cmd.(type) {
			case *instructions.EnvCommand:
				for _, kv := range c.Env {
					if secretName.MatchString(kv.Key) && kv.Value != "" {
						bad("stage %q: ENV %s carries a value; secrets are mounted at run time", st.Name, kv.Key)
					}
				}
			case *instructions.ArgCommand:
				for _, kv := range c.Args {
					if secretName.MatchString(kv.Key) && kv.Value != nil && *kv.Value != "" {
						bad("stage %q: ARG %s carries a value; secrets are mounted at run time", st.Name, kv.Key)
					}
				}
			case *instructions.RunCommand:
				line := strings.Join(c.CmdLine, " ")
				if strings.Contains(line, "go build") && strings.Contains(line, "CGO_ENABLED=0") {
					staticBuild = true
				}
			}
		}
	}
	if !staticBuild {
		bad("no RUN builds with CGO_ENABLED=0 go build (a static binary)")
	}
	if len(stages) == 0 {
		return probs, nil
	}
	final := stages[len(stages)-1]
	user, copied, sbom := "", false, false
	for _, cmd := range final.Commands {
		switch c := cmd.(type) {
		case *instructions.UserCommand:
			user = c.User
		case *instructions.CopyCommand:
			if c.From != "" {
				copied = true
				sbom = sbom || strings.HasPrefix(c.DestPath, "/usr/share/sbom/") && slices.ContainsFunc(c.SourcePaths, func(p string) bool { return strings.HasSuffix(p, ".cdx.json") })
			}
		}
	}
	if isRootUser(user) {
		bad("final stage: USER must name an unprivileged user (have %q)", user)
	}
	if !copied {
		bad("final stage: copies nothing from a build stage (COPY --from)")
	}
	if !sbom {
		bad("final stage: carries no CycloneDX SBOM (COPY --from=build ... *.cdx.json /usr/share/sbom/)")
	}
	return probs, nil
}
