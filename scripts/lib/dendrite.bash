# shellcheck shell=bash
# scripts/lib/dendrite.bash: a real Matrix homeserver for the tests that
# need one (the Dendrite importer, the end-to-end test with matrix-js-sdk).
#
# Dendrite is built once from its Go module into $CACHE/bin, outside the
# checkout, like MinIO: cgo SQLite, about 6 minutes cold on 2 cores. The
# tests start and stop Dendrite themselves (each with its own generated
# config, signing key and SQLite databases on loopback), so testenv only
# builds it and exports where the binaries are:
#
#   MEDIAREPO_TEST_DENDRITE_BIN             the homeserver (cmd/dendrite)
#   MEDIAREPO_TEST_DENDRITE_GENERATE_CONFIG cmd/generate-config (-dir, -server, -db)
#   MEDIAREPO_TEST_DENDRITE_GENERATE_KEYS   cmd/generate-keys (-private-key)
#   MEDIAREPO_TEST_DENDRITE_CREATE_ACCOUNT  cmd/create-account (shared-secret registration)
#
# Source it from scripts/testenv after CACHE, log and die are defined.

DENDRITE_VERSION=v0.13.8
DENDRITE_BIN_DIR=${MEDIAREPO_DENDRITE_BIN_DIR:-$CACHE/bin}
DENDRITE_BIN=$DENDRITE_BIN_DIR/dendrite
# The helper programs get a dendrite- prefix in the shared bin directory.
DENDRITE_TOOLS=(generate-config generate-keys create-account)
# cgo (mattn/go-sqlite3) needs a C compiler.
DENDRITE_APT_PACKAGES=(gcc libc6-dev)

# dendrite_built succeeds when every binary of $DENDRITE_VERSION is there.
dendrite_built() {
	local t
	[[ -x $DENDRITE_BIN && $(cat "$DENDRITE_BIN_DIR/.dendrite.version" 2>/dev/null) == "$DENDRITE_VERSION" ]] || return 1
	for t in "${DENDRITE_TOOLS[@]}"; do
		[[ -x $DENDRITE_BIN_DIR/dendrite-$t ]] || return 1
	done
}

# ensure_dendrite builds Dendrite and its tools unless they are there.
ensure_dendrite() {
	dendrite_built && return 0
	command -v gcc >/dev/null || die "gcc is needed to build Dendrite (cgo SQLite); install ${DENDRITE_APT_PACKAGES[*]}"
	log "building Dendrite $DENDRITE_VERSION into $DENDRITE_BIN_DIR"
	log "note: the first build takes ~6 minutes on 2 cores; later runs reuse the binaries"
	mkdir -p "$DENDRITE_BIN_DIR"
	rm -rf "$DENDRITE_BIN_DIR"/.build-dendrite.* # left by an interrupted build
	local gobin pkgs=() t start=$SECONDS
	gobin=$(mktemp -d "$DENDRITE_BIN_DIR/.build-dendrite.XXXXXX")
	pkgs+=("github.com/matrix-org/dendrite/cmd/dendrite@$DENDRITE_VERSION")
	for t in "${DENDRITE_TOOLS[@]}"; do
		pkgs+=("github.com/matrix-org/dendrite/cmd/$t@$DENDRITE_VERSION")
	done
	if ! CGO_ENABLED=1 GOFLAGS=-mod=mod GOBIN=$gobin gotool_machine install "${pkgs[@]}" >&2; then
		rm -rf "$gobin"
		die "building Dendrite failed"
	fi
	for t in "${DENDRITE_TOOLS[@]}"; do
		mv "$gobin/$t" "$DENDRITE_BIN_DIR/dendrite-$t"
	done
	mv "$gobin/dendrite" "$DENDRITE_BIN"
	rm -rf "$gobin"
	echo "$DENDRITE_VERSION" >"$DENDRITE_BIN_DIR/.dendrite.version"
	log "Dendrite $DENDRITE_VERSION built in $((SECONDS - start)) s"
}

# dendrite_env prints the export lines for the tests.
dendrite_env() {
	cat <<EOF
export MEDIAREPO_TEST_DENDRITE_BIN=$DENDRITE_BIN
export MEDIAREPO_TEST_DENDRITE_GENERATE_CONFIG=$DENDRITE_BIN_DIR/dendrite-generate-config
export MEDIAREPO_TEST_DENDRITE_GENERATE_KEYS=$DENDRITE_BIN_DIR/dendrite-generate-keys
export MEDIAREPO_TEST_DENDRITE_CREATE_ACCOUNT=$DENDRITE_BIN_DIR/dendrite-create-account
EOF
}

# dendrite_status says whether the binaries are built.
dendrite_status() {
	if dendrite_built; then
		echo "Dendrite: $DENDRITE_VERSION built at $DENDRITE_BIN"
	else
		echo "Dendrite: not built (scripts/testenv up builds it)"
	fi
}
