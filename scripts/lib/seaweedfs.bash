# shellcheck shell=bash
# scripts/lib/seaweedfs.bash: SeaweedFS, the second S3 server of the tests,
# sourced by scripts/testenv. MinIO's server is archived and its images are
# gone; SeaweedFS is maintained, has published images (deploy/compose) and
# builds from its Go module, so the tests and compose run the same server.
#
# `weed server -s3` runs master, volume server, filer and S3 gateway in one
# process on loopback, with fixed test credentials from an S3 identity file.
# Ports: S3 on $MEDIAREPO_TESTENV_SEAWEEDFS_PORT (default 18333); master,
# volume and filer on the next three ports (their gRPC ports are +10000).
#
# Uses testenv's DIR, CACHE, STARTED, log, die, wait_for, pid_alive and
# listener_cmdline; defines functions and the SEAWEEDFS_* settings.

SEAWEEDFS_VERSION=v0.0.0-20261109003541-7506e5f91cd6 # SeaweedFS 4.53
SEAWEEDFS_BIN=${MEDIAREPO_SEAWEEDFS_BIN:-$CACHE/bin/weed}
SEAWEEDFS_PORT=${MEDIAREPO_TESTENV_SEAWEEDFS_PORT:-18333}
# Fixed credentials of a loopback-only test server; not a secret.
SEAWEEDFS_ACCESS_KEY=mediarepo-test
SEAWEEDFS_SECRET_KEY=mediarepo-test-secret

# ensure_seaweedfs builds weed once into the cache. `go install mod@version`
# refuses SeaweedFS (its go.mod has replace directives), so it is built
# inside the downloaded module, with the module's own go.mod and go.sum.
ensure_seaweedfs() {
	[[ -x $SEAWEEDFS_BIN ]] && return 0
	log "building SeaweedFS $SEAWEEDFS_VERSION into $SEAWEEDFS_BIN"
	log "note: the first build takes several minutes; later runs reuse the binary"
	local src tmp
	src=$(go mod download -json "github.com/seaweedfs/seaweedfs@$SEAWEEDFS_VERSION" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') || die "downloading the SeaweedFS module failed"
	[[ -d $src ]] || die "the SeaweedFS module has no source directory ($src)"
	mkdir -p "$(dirname "$SEAWEEDFS_BIN")"
	tmp=$(mktemp "$(dirname "$SEAWEEDFS_BIN")/.weed.XXXXXX")
	if ! (cd "$src" && GOFLAGS=-mod=readonly gotool_machine build -o "$tmp" ./weed) >&2; then
		rm -f "$tmp"
		die "building SeaweedFS failed"
	fi
	mv "$tmp" "$SEAWEEDFS_BIN"
}

seaweedfs_ready() {
	curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$SEAWEEDFS_PORT/healthz" 2>/dev/null
}

write_seaweedfs_identities() { # file
	cat >"$1" <<EOF
{
  "identities": [
    {
      "name": "mediarepo-test",
      "credentials": [{"accessKey": "$SEAWEEDFS_ACCESS_KEY", "secretKey": "$SEAWEEDFS_SECRET_KEY"}],
      "actions": ["Admin", "Read", "List", "Tagging", "Write"]
    }
  ]
}
EOF
}

start_seaweedfs() {
	local pidfile=$DIR/seaweedfs.pid dir=$DIR/seaweedfs
	if pid_alive "$pidfile" && seaweedfs_ready; then
		log "SeaweedFS already runs on 127.0.0.1:$SEAWEEDFS_PORT (pid $(<"$pidfile")); reusing it"
		return 0
	fi
	if seaweedfs_ready; then
		local cmd
		cmd=$(listener_cmdline "$SEAWEEDFS_PORT") || cmd=
		if [[ $cmd == *" server "*"/seaweedfs/data "*"-s3.port=$SEAWEEDFS_PORT "* ]]; then
			log "SeaweedFS on 127.0.0.1:$SEAWEEDFS_PORT belongs to another checkout's test environment; reusing it"
			return 0
		fi
		die "127.0.0.1:$SEAWEEDFS_PORT answers but is not a mediarepo test SeaweedFS; stop it or set MEDIAREPO_TESTENV_SEAWEEDFS_PORT"
	fi
	ensure_seaweedfs
	mkdir -p "$dir/data"
	write_seaweedfs_identities "$dir/s3.json"
	# One volume per collection (each test bucket is one), small volumes,
	# as many as the disk holds: many short-lived buckets never run out.
	WEED_MASTER_VOLUME_GROWTH_COPY_1=1 \
		setsid "$SEAWEEDFS_BIN" server -dir="$dir/data" \
		-ip=127.0.0.1 -ip.bind=127.0.0.1 \
		-master.port=$((SEAWEEDFS_PORT + 1)) -volume.port=$((SEAWEEDFS_PORT + 2)) -filer.port=$((SEAWEEDFS_PORT + 3)) \
		-master.volumeSizeLimitMB=64 -master.telemetry=false -volume.max=0 \
		-s3 -s3.port="$SEAWEEDFS_PORT" -s3.config="$dir/s3.json" \
		-s3.port.iceberg=0 -s3.port.lance=0 -s3.autoCreateBucket=false \
		</dev/null >"$DIR/seaweedfs.log" 2>&1 &
	echo $! >"$pidfile"
	STARTED+=(seaweedfs)
	wait_for SeaweedFS 60 "$pidfile" seaweedfs_ready
	log "SeaweedFS ready on 127.0.0.1:$SEAWEEDFS_PORT (pid $(<"$pidfile"), log $DIR/seaweedfs.log)"
}

stop_seaweedfs() { stop_pid SeaweedFS "$DIR/seaweedfs.pid"; }

seaweedfs_status() {
	if pid_alive "$DIR/seaweedfs.pid" && seaweedfs_ready; then
		echo "SeaweedFS: running on 127.0.0.1:$SEAWEEDFS_PORT (pid $(<"$DIR/seaweedfs.pid"))"
	else
		echo "SeaweedFS: not running"
	fi
}

seaweedfs_env() {
	cat <<EOF
export MEDIAREPO_TEST_S3B_ENDPOINT=127.0.0.1:$SEAWEEDFS_PORT
export MEDIAREPO_TEST_S3B_ACCESS_KEY=$SEAWEEDFS_ACCESS_KEY
export MEDIAREPO_TEST_S3B_SECRET_KEY=$SEAWEEDFS_SECRET_KEY
EOF
}
