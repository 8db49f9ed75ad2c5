# shellcheck shell=bash
# scripts/lib/postgres.bash: a private PostgreSQL cluster for the tests of
# the PostgreSQL catalog (internal/catalog/postgres) and whatever else needs
# one.
#
# Debian's PostgreSQL 15 (package postgresql-15; its binaries live in
# /usr/lib/postgresql/15/bin, not on PATH). The cluster is made with initdb
# in $DIR/postgres (git-ignored, trust authentication for the user
# `postgres`, loopback only), started with pg_ctl on
# 127.0.0.1:${MEDIAREPO_TESTENV_POSTGRES_PORT:-15432} with its socket in the
# same folder, and never the system service. PostgreSQL refuses to run as
# root, so as root the cluster belongs to the `postgres` user (created by
# the package). Tests create fresh databases of their own from
#
#   MEDIAREPO_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable
#
# and drop them afterwards. Durability stays the default
# (synchronous_commit=on, fsync=on): benchmarks measure what production gets.
#
# Source it from scripts/testenv after DIR, log, die, pid_alive and
# listener_cmdline are defined.

POSTGRES_VERSION=15
POSTGRES_BIN=${MEDIAREPO_POSTGRES_BIN:-/usr/lib/postgresql/$POSTGRES_VERSION/bin}
POSTGRES_PORT=${MEDIAREPO_TESTENV_POSTGRES_PORT:-15432}
POSTGRES_DIR=$DIR/postgres
POSTGRES_DATA=$POSTGRES_DIR/data
POSTGRES_APT_PACKAGES=(postgresql-$POSTGRES_VERSION)

# as_pg CMD... runs CMD as the cluster's owner: `postgres` when we are root
# (PostgreSQL refuses root), ourselves otherwise.
as_pg() {
	if [[ $(id -u) -eq 0 ]]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

postgres_ready() {
	"$POSTGRES_BIN/pg_isready" -q -h 127.0.0.1 -p "$POSTGRES_PORT" -t 2 2>/dev/null
}

# postgres_pid prints the postmaster's pid from its pid file, or fails.
postgres_pid() {
	local pid
	[[ -r $POSTGRES_DATA/postmaster.pid ]] || return 1
	pid=$(head -1 "$POSTGRES_DATA/postmaster.pid")
	[[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

init_postgres() {
	[[ -f $POSTGRES_DATA/PG_VERSION ]] && return 0
	[[ -x $POSTGRES_BIN/initdb ]] || die "PostgreSQL $POSTGRES_VERSION not found in $POSTGRES_BIN (package postgresql-$POSTGRES_VERSION)"
	log "creating a PostgreSQL cluster in $POSTGRES_DATA"
	mkdir -p "$POSTGRES_DIR"
	[[ $(id -u) -eq 0 ]] && chown postgres: "$POSTGRES_DIR"
	as_pg "$POSTGRES_BIN/initdb" -D "$POSTGRES_DATA" -U postgres --auth=trust \
		--encoding=UTF8 --locale=C.UTF-8 >"$POSTGRES_DIR/initdb.log" 2>&1 ||
		die "initdb failed; see $POSTGRES_DIR/initdb.log"
}

start_postgres() {
	if postgres_pid >/dev/null && postgres_ready; then
		log "PostgreSQL already runs on 127.0.0.1:$POSTGRES_PORT (pid $(postgres_pid)); reusing it"
		return 0
	fi
	if postgres_ready; then
		# Another checkout's test environment on our port: use it.
		local cmd
		cmd=$(listener_cmdline "$POSTGRES_PORT") || cmd=
		if [[ $cmd == *"postgres -D "*"/postgres/data"*"-p $POSTGRES_PORT"* ]]; then
			log "PostgreSQL on 127.0.0.1:$POSTGRES_PORT belongs to another checkout's test environment ($cmd); reusing it"
			return 0
		fi
		die "127.0.0.1:$POSTGRES_PORT answers but is not a mediarepo test PostgreSQL; stop it or set MEDIAREPO_TESTENV_POSTGRES_PORT"
	fi
	init_postgres
	# max_connections: every test opens its own pool, several packages at once.
	as_pg "$POSTGRES_BIN/pg_ctl" -D "$POSTGRES_DATA" -l "$POSTGRES_DIR/postgres.log" -w -t 60 \
		-o "-p $POSTGRES_PORT -k $POSTGRES_DIR -c listen_addresses=127.0.0.1 -c max_connections=300" \
		start >/dev/null || die "PostgreSQL did not start; see $POSTGRES_DIR/postgres.log"
	STARTED+=(postgres)
	postgres_ready || die "PostgreSQL started but does not answer on 127.0.0.1:$POSTGRES_PORT"
	log "PostgreSQL ready on 127.0.0.1:$POSTGRES_PORT (pid $(postgres_pid), log $POSTGRES_DIR/postgres.log)"
}

stop_postgres() {
	postgres_pid >/dev/null || return 0
	log "stopping PostgreSQL (pid $(postgres_pid))"
	as_pg "$POSTGRES_BIN/pg_ctl" -D "$POSTGRES_DATA" -m fast -w -t 30 stop >/dev/null ||
		log "PostgreSQL did not stop cleanly; see $POSTGRES_DIR/postgres.log"
}

postgres_env() {
	cat <<EOF
export MEDIAREPO_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$POSTGRES_PORT/postgres?sslmode=disable
export MEDIAREPO_TEST_POSTGRES_BIN=$POSTGRES_BIN
EOF
}

postgres_status() {
	if postgres_pid >/dev/null && postgres_ready; then
		echo "PostgreSQL: running on 127.0.0.1:$POSTGRES_PORT (pid $(postgres_pid))"
	else
		echo "PostgreSQL: not running"
	fi
}
