# shellcheck shell=bash
# scripts/lib/cicap.bash: c-icap (Debian's c-icap and
# libc-icap-mod-virus-scan) in front of the test clamd, for scripts/testenv.
# The ICAP engine's tests (internal/scan/icap) and benchmarks use it.
#
# Source it from scripts/testenv after clamd.bash; it uses DIR, ROOT,
# CLAMD_SOCKET, STARTED, log, die, pid_alive, stop_pid and wait_for, and
# defines CICAP_* variables and functions.

CICAP_PORT=${MEDIAREPO_TESTENV_CICAP_PORT:-11344}
CICAP_DIR=$DIR/cicap
CICAP_CONF=$CICAP_DIR/c-icap.conf
CICAP_SERVICE=avscan
CICAP_PACKAGES=(c-icap libc-icap-mod-virus-scan)

# cicap_options_ok PORT: an OPTIONS request over bash's /dev/tcp answers
# "ICAP/1.0 200".
cicap_options_ok() {
	local reply
	{ exec 6<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
	printf 'OPTIONS icap://127.0.0.1:%s/%s ICAP/1.0\r\nHost: 127.0.0.1:%s\r\nEncapsulated: null-body=0\r\n\r\n' \
		"$1" "$CICAP_SERVICE" "$1" >&6
	IFS= read -r -t 2 reply <&6 || true
	exec 6>&-
	[[ $reply == "ICAP/1.0 200"* ]]
}

cicap_ready() { cicap_options_ok "$CICAP_PORT"; }

# cicap_libdir prints the directory of c-icap's modules.
cicap_libdir() {
	local so
	so=$(dpkg -L libc-icap-mod-virus-scan 2>/dev/null | grep '/virus_scan\.so$' | head -1)
	[[ -n $so ]] || die "virus_scan.so not found (package libc-icap-mod-virus-scan)"
	dirname "$so"
}

# cicap_render_conf OUT DIR PORT TMP CLAMD_SOCKET writes a c-icap config
# from scripts/cicap/c-icap.conf.in.
cicap_render_conf() {
	local out=$1 dir=$2 port=$3 tmp=$4 sock=$5 libdir
	libdir=$(cicap_libdir)
	sed -e "s|@DIR@|$dir|g" -e "s|@PORT@|$port|g" -e "s|@TMP@|$tmp|g" \
		-e "s|@CLAMD_SOCKET@|$sock|g" -e "s|@LIBDIR@|$libdir|g" \
		"$ROOT/scripts/cicap/c-icap.conf.in" >"$out.new"
	mv "$out.new" "$out"
}

start_cicap() {
	local pidfile=$DIR/cicap.run.pid tmp
	if pid_alive "$pidfile" && cicap_ready; then
		log "c-icap already runs on 127.0.0.1:$CICAP_PORT (pid $(<"$pidfile")); reusing it"
		return 0
	fi
	if cicap_ready; then
		die "127.0.0.1:$CICAP_PORT answers ICAP but is not this test environment's c-icap; stop it or set MEDIAREPO_TESTENV_CICAP_PORT"
	fi
	[[ -S $CLAMD_SOCKET ]] || die "c-icap needs clamd's socket $CLAMD_SOCKET (start clamd first)"
	command -v c-icap >/dev/null || die "c-icap not found (package c-icap)"
	mkdir -p "$CICAP_DIR"
	# c-icap keeps each object in TmpDir while clamd scans it: tmpfs keeps
	# scanned plaintext off the disk.
	tmp=$CICAP_DIR/tmp
	if [[ -d /dev/shm && -w /dev/shm ]]; then
		tmp=/dev/shm/mediarepo-cicap-$(printf '%s' "$DIR" | cksum | cut -d' ' -f1)
	fi
	mkdir -p -m 0700 "$tmp"
	cicap_render_conf "$CICAP_CONF" "$CICAP_DIR" "$CICAP_PORT" "$tmp" "$CLAMD_SOCKET"
	setsid c-icap -N -f "$CICAP_CONF" </dev/null >"$CICAP_DIR/c-icap.out" 2>&1 &
	echo $! >"$pidfile"
	echo "$tmp" >"$CICAP_DIR/tmpdir"
	STARTED+=(cicap)
	wait_for c-icap 30 "$pidfile" cicap_ready
	log "c-icap ready on icap://127.0.0.1:$CICAP_PORT/$CICAP_SERVICE (pid $(<"$pidfile"), clamd $CLAMD_SOCKET, log $CICAP_DIR/server.log)"
}

stop_cicap() {
	local pidfile=$DIR/cicap.run.pid pid
	if pid_alive "$pidfile"; then
		pid=$(<"$pidfile")
		# c-icap forks its servers into its process group: stop them all.
		kill -TERM -- "-$pid" 2>/dev/null || true
	fi
	stop_pid c-icap "$pidfile"
	if [[ -f $CICAP_DIR/tmpdir ]]; then
		rm -rf "$(<"$CICAP_DIR/tmpdir")"
		rm -f "$CICAP_DIR/tmpdir"
	fi
}

cicap_status() {
	if pid_alive "$DIR/cicap.run.pid" && cicap_ready; then
		echo "c-icap: running on icap://127.0.0.1:$CICAP_PORT/$CICAP_SERVICE (pid $(<"$DIR/cicap.run.pid"))"
	else
		echo "c-icap: not running"
	fi
}

cicap_print_env() {
	cat <<EOT
export MEDIAREPO_TEST_ICAP_URL=icap://127.0.0.1:$CICAP_PORT/$CICAP_SERVICE
export MEDIAREPO_TEST_CICAP_CONF=$CICAP_CONF
EOT
}
