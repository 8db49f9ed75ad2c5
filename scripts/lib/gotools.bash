# shellcheck shell=bash
# scripts/lib/gotools.bash: Go tools built once into $CACHE/bin (outside
# the checkout, like MinIO), and the Go vulnerability database built from
# its Go module (the machines reach no other server than the module proxy).
# Sourced by scripts/testenv and scripts/tools; uses their CACHE, log, die.

HELM_PKG=helm.sh/helm/v4/cmd/helm@v4.3.2
CYCLONEDX_PKG=github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@v1.10.0
GOVULNCHECK_PKG=golang.org/x/vuln/cmd/govulncheck@v1.9.0
VULNDB_MOD=golang.org/x/vulndb@v0.0.0-20261105234957-e22db6528018

# ensure_go_tool NAME PKG@VERSION [project] prints the path of the binary,
# building it first when the cache lacks it (or holds another version). With
# "project" it is built with the project's toolchain (scripts/lib/
# toolchain.bash) and rebuilt when that changes: govulncheck type-checks our
# code and the standard library, which only the Go it was built with can
# read. Other tools are built with the machine's own setting.
ensure_go_tool() {
	local name=$1 pkg=$2 bin stamp tmp want=$2 gocmd=(gotool_machine)
	if [[ ${3:-} == project ]]; then
		want="$pkg $GOTOOLCHAIN"
		gocmd=(go)
	fi
	bin=$CACHE/bin/$name
	stamp=$CACHE/bin/.$name.version
	if [[ -x $bin && -f $stamp && $(<"$stamp") == "$want" ]]; then
		echo "$bin"
		return 0
	fi
	log "building $pkg into $bin (once; later runs reuse it)"
	mkdir -p "$CACHE/bin"
	tmp=$(mktemp -d "$CACHE/bin/.tool.$name.XXXXXX")
	if ! GOFLAGS=-mod=mod GOBIN=$tmp "${gocmd[@]}" install "$pkg" >&2; then
		rm -rf "$tmp"
		die "building $pkg failed"
	fi
	mv "$tmp/$name" "$bin"
	rm -rf "$tmp"
	echo "$want" >"$stamp"
	echo "$bin"
}

# ensure_vulndb prints a file:// URL of a Go vulnerability database in the
# layout govulncheck reads (index/db.json, index/modules.json, ID/*.json),
# built once from the OSV files of the golang.org/x/vulndb module by that
# module's own cmd/indexdb.
ensure_vulndb() {
	local ver=${VULNDB_MOD#*@} db src tmp
	db=$CACHE/vulndb/$ver
	if [[ -f $db/index/db.json ]]; then
		echo "file://$db"
		return 0
	fi
	log "building the Go vulnerability database $VULNDB_MOD into $db (once)"
	src=$(go mod download -json "$VULNDB_MOD" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') ||
		die "downloading $VULNDB_MOD failed"
	[[ -d $src/data/osv ]] || die "$VULNDB_MOD has no data/osv"
	mkdir -p "$CACHE/bin" "$CACHE/vulndb"
	if [[ ! -x $CACHE/bin/vulndb-indexdb-$ver ]]; then
		(cd "$src" && GOFLAGS=-mod=readonly gotool_machine build -o "$CACHE/bin/vulndb-indexdb-$ver" ./cmd/indexdb) >&2 ||
			die "building $VULNDB_MOD/cmd/indexdb failed"
	fi
	tmp=$(mktemp -d "$CACHE/vulndb/.build.XXXXXX")
	"$CACHE/bin/vulndb-indexdb-$ver" -vulns "$src/data/osv" -out "$tmp/db" >&2 || {
		rm -rf "$tmp"
		die "indexing the vulnerability database failed"
	}
	rm -rf "$db"
	mv "$tmp/db" "$db"
	rm -rf "$tmp"
	echo "file://$db"
}
