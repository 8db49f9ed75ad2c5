# syntax=docker/dockerfile:1
# mediarepo: the HTTP server. Build from the repository root:
#   docker build -f deploy/docker/mediarepo.Dockerfile -t mediarepo .
# A static binary (CGO_ENABLED=0) in a distroless image that holds no
# shell, runs as the unprivileged "nonroot" user (65532) and bakes in no
# configuration or secrets: mount the YAML and the key files at run time
# (deploy/compose shows how), and run it with a read-only root filesystem.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY cmd ./cmd
COPY internal ./internal
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags='-s -w' -o /out/mediarepo ./cmd/mediarepo
# The image's SBOM: CycloneDX from the Go module graph, as `make sbom` writes it.
# cyclonedx-gomod reads the main module's version from git; the build context
# has no .git, so the SBOM names a build-local commit of exactly these sources.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    GOBIN=/usr/local/bin go install github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@v1.10.0 && \
    git init -q && git add -A && git -c user.name=build -c user.email=build@localhost commit -qm build && \
    cyclonedx-gomod app -json -licenses=false -main cmd/mediarepo -output /out/mediarepo.cdx.json .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/mediarepo /usr/local/bin/mediarepo
COPY --from=build /out/mediarepo.cdx.json /usr/share/sbom/mediarepo.cdx.json
USER 65532:65532
# 8008: the public Matrix media API (behind the reverse proxy);
# 8009: the admin listener (officers, /metrics, /healthz, /readyz) — never route it publicly.
EXPOSE 8008 8009
ENTRYPOINT ["/usr/local/bin/mediarepo"]
CMD ["-config", "/etc/mediarepo/mediarepo.yaml"]
