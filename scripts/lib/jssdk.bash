# shellcheck shell=bash
# scripts/lib/jssdk.bash: matrix-js-sdk from npm, the client library that
# drives the end-to-end test with a real homeserver. 37.5.0 is the last
# release that runs on Debian's Node 20. It is installed once with npm
# into $CACHE/node/matrix-js-sdk-$JSSDK_VERSION (outside the checkout; no
# node_modules is committed) and exported as:
#
#   MEDIAREPO_TEST_JSSDK_DIR   the folder whose node_modules holds it
#   MEDIAREPO_TEST_NODE        the node binary
#
# Source it from scripts/testenv after CACHE, log and die are defined.

JSSDK_VERSION=37.5.0
JSSDK_DIR=${MEDIAREPO_JSSDK_DIR:-$CACHE/node/matrix-js-sdk-$JSSDK_VERSION}

# jssdk_installed succeeds when the pinned version is installed.
jssdk_installed() {
	[[ -f $JSSDK_DIR/node_modules/matrix-js-sdk/package.json ]] &&
		grep -q "\"version\": \"$JSSDK_VERSION\"" "$JSSDK_DIR/node_modules/matrix-js-sdk/package.json"
}

# ensure_jssdk installs matrix-js-sdk with npm unless it is there.
ensure_jssdk() {
	jssdk_installed && return 0
	# Node itself is not installed here: Debian 12's nodejs is 18 and
	# machines often carry another build (NodeSource) that apt must not replace.
	command -v npm >/dev/null || die "node ≥ 20 and npm are needed for matrix-js-sdk (Debian: apt-get install nodejs npm)"
	log "installing matrix-js-sdk $JSSDK_VERSION with npm into $JSSDK_DIR"
	mkdir -p "$JSSDK_DIR"
	(cd "$JSSDK_DIR" && npm install --no-audit --no-fund --no-save --prefix . "matrix-js-sdk@$JSSDK_VERSION" >&2) ||
		die "npm install matrix-js-sdk@$JSSDK_VERSION failed"
}

# jssdk_env prints the export lines for the tests.
jssdk_env() {
	cat <<EOT
export MEDIAREPO_TEST_JSSDK_DIR=$JSSDK_DIR
export MEDIAREPO_TEST_NODE=$(command -v node || echo /usr/bin/node)
EOT
}

# jssdk_status says whether matrix-js-sdk is installed.
jssdk_status() {
	if jssdk_installed; then
		echo "matrix-js-sdk: $JSSDK_VERSION in $JSSDK_DIR"
	else
		echo "matrix-js-sdk: not installed (scripts/testenv up installs it with npm)"
	fi
}
