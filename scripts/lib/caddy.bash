# shellcheck shell=bash
# scripts/lib/caddy.bash: Debian's Caddy, the reverse proxy of the
# end-to-end test with a real homeserver (internal/e2e/homeserver_test.go),
# which runs the routes of the shipped deploy/compose/Caddyfile. The test
# starts and stops its own Caddy; testenv only installs the package (apt
# `caddy`, 2.6.2 on Debian 12) and exports where the binary is:
#
#   MEDIAREPO_TEST_CADDY_BIN   /usr/bin/caddy
#
# Source it from scripts/testenv; CADDY_APT_PACKAGES joins APT_PACKAGES.

CADDY_APT_PACKAGES=(caddy)

# caddy_env prints the export line for the tests.
caddy_env() {
	echo "export MEDIAREPO_TEST_CADDY_BIN=$(command -v caddy || echo /usr/bin/caddy)"
}

# caddy_status says whether Caddy is installed.
caddy_status() {
	if command -v caddy >/dev/null; then
		echo "Caddy: $(caddy version 2>/dev/null | cut -d' ' -f1) at $(command -v caddy)"
	else
		echo "Caddy: not installed (scripts/testenv up installs Debian's caddy)"
	fi
}
