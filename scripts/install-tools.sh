#!/bin/sh
# install-tools.sh installs the pinned external tools that cairn's end-to-end
# tests drive (a real MinIO server, the mc admin client, the Versity S3
# gateway as a second S3 implementation, and restic for comparison
# benchmarks) into a cache folder outside the module, once, and
# reuses them on later runs.
#
# Usage: scripts/install-tools.sh [minio] [mc] [versitygw] [restic]   (no args: all)
#
# Rough build times on a 2-core machine with a warm module proxy: versitygw
# about 5 minutes (cold module cache), minio longer.
#
# Binaries go to
#   ${CAIRN_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/cairn-tools}/bin
# which is also where e2e/miniotest and e2e/versitygw look for them.
#
# A tool is rebuilt only when its binary is missing or was built from a
# different module version. The version check reads the build information
# the Go toolchain embeds in every binary (`go version -m`), so binaries
# built by hand or by an earlier run with the same pinned version are
# accepted as they are. A stamp file per tool (bin/.TOOL.version) records
# what was installed, for humans and as a fallback when the build
# information cannot be read.
#
# Builds run from a temporary directory, never from the module, so go.mod
# and go.sum are not touched, and install into a temporary GOBIN first so a
# half-finished build never shows up under the final name.
set -eu

tools_root=${CAIRN_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/cairn-tools}
bin_dir=$tools_root/bin

# pinned prints "PACKAGE MODULE VERSION" for a tool name.
pinned() {
	case $1 in
	minio) echo "github.com/minio/minio github.com/minio/minio v0.0.0-20260212201848-7aac2a2c5b7c" ;;
	mc) echo "github.com/minio/mc github.com/minio/mc v0.0.0-20250313080218-cf909e1063a9" ;;
	versitygw) echo "github.com/versity/versitygw/cmd/versitygw github.com/versity/versitygw v1.8.0" ;;
	restic) echo "github.com/restic/restic/cmd/restic github.com/restic/restic v0.18.1" ;;
	*) return 1 ;;
	esac
}

# built_version prints the main module version embedded in binary $1, or
# nothing when it cannot be read.
built_version() {
	go version -m "$1" 2>/dev/null | awk '$1 == "mod" { print $3; exit }'
}

# up_to_date reports whether tool $1 is installed at version $3 of module $2.
up_to_date() {
	bin=$bin_dir/$1
	[ -x "$bin" ] || return 1
	have=$(built_version "$bin")
	if [ -z "$have" ] && [ -f "$bin_dir/.$1.version" ]; then
		have=$(cat "$bin_dir/.$1.version")
	fi
	[ "$have" = "$3" ]
}

install_tool() {
	name=$1
	spec=$(pinned "$name") || {
		echo "install-tools: unknown tool '$name' (known: minio mc versitygw restic)" >&2
		exit 2
	}
	# shellcheck disable=SC2086 # split the spec into its three words
	set -- $spec
	pkg=$1 module=$2 version=$3

	if up_to_date "$name" "$module" "$version"; then
		echo "$version" >"$bin_dir/.$name.version"
		echo "install-tools: $name $version already installed in $bin_dir"
		return 0
	fi

	echo "install-tools: building $name $version (MinIO: 10-30 minutes and about 3 GB of module and build cache on two cores; the others: a few minutes)"
	tmp_bin=$(mktemp -d "$tools_root/.build-$name.XXXXXX")
	# A line a minute, so a long build does not look hung.
	(
		start=$(date +%s)
		while sleep 60; do
			echo "install-tools: still building $name ($(( ($(date +%s) - start) / 60 )) min; cache $(du -sh "$(go env GOCACHE)" 2>/dev/null | cut -f1))"
		done
	) &
	heartbeat=$!
	status=0
	(cd "$work_dir" && GOBIN=$tmp_bin GOFLAGS=-buildvcs=false go install "$pkg@$version") || status=$?
	kill "$heartbeat" 2>/dev/null; wait "$heartbeat" 2>/dev/null || true
	if [ "$status" -ne 0 ]; then
		echo "install-tools: building $name failed (exit $status); see the go output above" >&2
		exit "$status"
	fi
	mv -f "$tmp_bin/$name" "$bin_dir/$name"
	rm -rf "$tmp_bin"
	tmp_bin=
	echo "$version" >"$bin_dir/.$name.version"
	echo "install-tools: installed $bin_dir/$name"
}

command -v go >/dev/null 2>&1 || {
	echo "install-tools: the go command is needed to build the tools" >&2
	exit 1
}

mkdir -p "$bin_dir"
work_dir=$(mktemp -d "${TMPDIR:-/tmp}/cairn-tools.XXXXXX")
tmp_bin=
trap 'rm -rf "$work_dir" ${tmp_bin:+"$tmp_bin"}' EXIT

if [ $# -eq 0 ]; then
	set -- minio mc versitygw restic
fi
for tool in "$@"; do
	install_tool "$tool"
done
