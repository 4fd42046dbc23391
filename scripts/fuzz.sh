#!/usr/bin/env bash
# fuzz.sh runs every fuzz target for a while (default 1m each). Plain
# `go test` runs only their seeds; this script lets the fuzzer search.
# Usage: scripts/fuzz.sh [duration]    e.g. scripts/fuzz.sh 30s
set -euo pipefail
cd "$(dirname "$0")/.."
time=${1:-1m}
status=0
for pkg in $(go list ./pkg/...); do
	for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		echo "== $pkg $target ($time)"
		if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$time" "$pkg"; then
			status=1
		fi
	done
done
exit $status
