# mediarepo — see README.md. `make run` starts the embedded default,
# `make test` brings up real MinIO, clamd and NATS and runs every test.
SHELL := /bin/bash
GO ?= go
# Every go command below (and in the scripts) uses the toolchain of go.mod's
# `toolchain` line, fetched once from the module proxy, even where go.env
# says GOTOOLCHAIN=local; MEDIAREPO_GOTOOLCHAIN overrides it
# (scripts/lib/toolchain.bash).
export GOTOOLCHAIN := $(or $(MEDIAREPO_GOTOOLCHAIN),$(shell sed -n 's/^toolchain //p' go.mod))
BIN := bin

.PHONY: all build run test test-go test-faults tour bench bench-scale vet fmt testenv-up testenv-down clean images sbom vuln

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

run: build
	./scripts/run-embedded

# test: install what is missing, start MinIO and clamd (NATS is embedded in
# the tests), run every test with the services' addresses in the
# environment, then stop only what this run started; then run the README's
# tour against a fresh `make run` and check every answer; then the SBOMs
# and the known-vulnerability check.
test:
	./scripts/testenv run -- $(MAKE) --no-print-directory test-go
	./scripts/tour-ci
	$(MAKE) --no-print-directory sbom vuln

# images: build both images where a Docker or Podman engine runs.
images:
	./scripts/images

# sbom: CycloneDX SBOMs of both programs into bin/sbom.
sbom:
	./scripts/sbom

# vuln: govulncheck against the code; reachable known vulnerabilities fail
# unless accepted in deploy/vuln-accept.yaml.
vuln:
	./scripts/vuln

# tour: the README's five-minute tour against a running `make run`.
tour:
	./scripts/tour

test-go: vet
	$(GO) test -count=1 -timeout 20m ./...

# test-faults: the long fault test (scripts/cluster; internal/faults): 20
# runs of 2 minutes of load, each run killing at its own moments, then a
# power loss of all three NATS servers (lazyfs drops what they did not
# fsync), POWERLOSS_RUNS runs per setting of POWERLOSS_SYNC. The NATS
# default fails its invariants (the trade-off, README "Proof under
# faults"): POWERLOSS_SYNC=always,default measures it. `make test` runs
# one short run.
FAULT_RUNS ?= 20
FAULT_DURATION ?= 2m
POWERLOSS_RUNS ?= 2
POWERLOSS_SYNC ?= always
test-faults:
	./scripts/testenv run -- env MEDIAREPO_FAULTS_RUNS=$(FAULT_RUNS) MEDIAREPO_FAULTS_DURATION=$(FAULT_DURATION) \
		MEDIAREPO_FAULTS_POWERLOSS_RUNS=$(POWERLOSS_RUNS) MEDIAREPO_FAULTS_POWERLOSS_SYNC=$(POWERLOSS_SYNC) \
		$(GO) test -count=1 -v -timeout 180m -run 'TestFaults|TestAllNATSKilled' ./internal/faults/

bench:
	./scripts/testenv run -- ./scripts/bench

# bench-scale: the catalog at N records per backend (not part of `make
# test`: a 1 M fill takes minutes). N=10000000 for the 10 M goal,
# BACKENDS=postgres to measure one backend.
bench-scale:
	./scripts/testenv run -- ./scripts/bench-scale

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

testenv-up:
	./scripts/testenv up

testenv-down:
	./scripts/testenv down

clean:
	rm -rf $(BIN)
