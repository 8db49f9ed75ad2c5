# shellcheck shell=bash
# scripts/lib/clamd.bash: bash shared by scripts/testenv and
# scripts/run-embedded — Debian package checks, process bookkeeping and a
# local clamd (binary, tmpfs TemporaryDirectory, config from
# scripts/clamd/clamd.conf.in, PING).
#
# Source it after defining `log MSG...` and `die MSG...`; it defines
# functions only and sets no variables of its callers.

# missing_packages PKG... prints the Debian packages that are not installed
# (all of them where dpkg-query is absent).
missing_packages() {
	local p
	for p in "$@"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
			printf '%s\n' "$p"
		fi
	done
}

# clamd_bin prints the path of clamd (package clamav-daemon) or dies.
clamd_bin() {
	if command -v clamd >/dev/null; then
		command -v clamd
	elif [[ -x /usr/sbin/clamd ]]; then
		echo /usr/sbin/clamd
	else
		die "clamd not found (package clamav-daemon)"
	fi
}

# pid_alive PIDFILE succeeds when the file names a running process.
pid_alive() {
	local pid
	[[ -f $1 ]] || return 1
	pid=$(<"$1")
	[[ -n $pid ]] && kill -0 "$pid" 2>/dev/null
}

# stop_pid NAME PIDFILE stops the process (TERM, KILL after 10 s) and
# removes the file.
stop_pid() {
	local name=$1 file=$2 pid i
	if ! pid_alive "$file"; then
		rm -f "$file"
		return 0
	fi
	pid=$(<"$file")
	log "stopping $name (pid $pid)"
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "$name did not stop within 10 s; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$file"
}

# clamd_ping_tcp PORT: zPING\0 → PONG\0 over bash's /dev/tcp (no client
# tools needed).
clamd_ping_tcp() {
	local reply
	{ exec 7<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
	printf 'zPING\0' >&7
	IFS= read -r -d '' -t 2 reply <&7 || true
	exec 7>&-
	[[ $reply == PONG ]]
}

# clamd_tmpdir MOUNT SHMDIR prints clamd's TemporaryDirectory: a tmpfs
# mounted on MOUNT when we may mount (root), else SHMDIR in /dev/shm (a
# tmpfs), else MOUNT on disk with a WARNING. clamd writes every INSTREAM
# there, so tmpfs keeps scanned plaintext off the disk.
clamd_tmpdir() {
	local mnt=$1 shm=$2
	mkdir -p "$mnt"
	if mountpoint -q "$mnt"; then
		echo "$mnt"
		return 0
	fi
	if [[ $(id -u) -eq 0 ]] && mount -t tmpfs -o size=1g,mode=0700 mediarepo-clamd-tmp "$mnt" 2>/dev/null; then
		log "clamd TemporaryDirectory: tmpfs mounted on $mnt"
		echo "$mnt"
		return 0
	fi
	if [[ -d /dev/shm && -w /dev/shm ]] && [[ $(stat -f -c %T /dev/shm) == tmpfs ]]; then
		mkdir -p -m 0700 "$shm"
		log "clamd TemporaryDirectory: $shm (tmpfs /dev/shm; could not mount a tmpfs of our own)"
		echo "$shm"
		return 0
	fi
	log "WARNING: clamd TemporaryDirectory on disk ($mnt): no tmpfs available"
	echo "$mnt"
}

# clamd_release_tmpdir MOUNT SHMDIR undoes clamd_tmpdir.
clamd_release_tmpdir() {
	local mnt=$1 shm=$2
	if mountpoint -q "$mnt" 2>/dev/null; then
		umount "$mnt" 2>/dev/null || log "could not unmount $mnt"
	fi
	rm -rf "$shm"
}

# clamd_render_conf OUT DIR PORT SOCKET DB TMP STREAM_MAX writes a clamd
# config from scripts/clamd/clamd.conf.in (next to this library) to OUT,
# atomically. An empty PORT drops the TCP listener (unix socket only).
clamd_render_conf() {
	local out=$1 dir=$2 port=$3 socket=$4 db=$5 tmp=$6 max=$7 tmpl
	tmpl="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/clamd/clamd.conf.in"
	local args=(-e "s|@DIR@|$dir|g" -e "s|@PORT@|$port|g" -e "s|@SOCKET@|$socket|g"
		-e "s|@DB@|$db|g" -e "s|@TMP@|$tmp|g" -e "s|@STREAM_MAX@|$max|g")
	[[ -z $port ]] && args+=(-e '/^TCPSocket /d' -e '/^TCPAddr /d')
	sed "${args[@]}" "$tmpl" >"$out.new"
	mv "$out.new" "$out"
}
