# shellcheck shell=bash
# scripts/lib/toolchain.bash: the Go toolchain that builds, tests and checks
# mediarepo is the one go.mod's `toolchain` line names (go1.27.3: its
# standard library has none of the vulnerabilities `make vuln` finds in
# go1.26.8's). The go command fetches it from the module proxy once (about
# 76 MB) and keeps it in the module cache. A Go whose go.env says
# GOTOOLCHAIN=local (these machines' does) ignores that line, so every
# script that runs `go` for our code sources this file, and the Makefile
# exports the same. MEDIAREPO_GOTOOLCHAIN overrides it ("local" = the Go on
# PATH). Third-party programs the tests only run (MinIO, SeaweedFS,
# Dendrite, Helm) are built with `gotool_machine`, the machine's own setting,
# as before. Needs ROOT (the checkout).

GOTOOLCHAIN=${MEDIAREPO_GOTOOLCHAIN:-$(sed -n 's/^toolchain //p' "$ROOT/go.mod")}
export GOTOOLCHAIN

# gotool_machine runs a go command with the machine's own toolchain setting
# (go.env's GOTOOLCHAIN), not the project's.
gotool_machine() {
	env -u GOTOOLCHAIN go "$@"
}
