#!/usr/bin/env bash
# make bench-scale N=...: how memory and start-up grow with the repository.
#
# For each N: create N unique 2 KiB files on tmpfs (one blob each), back them
# up with cairn and with restic 0.18.1, then measure in each repository
#   - a backup of one new file (peak RSS, wall time), and
#   - a no-change backup of the N files.
# With two or more N, prints the bytes of peak RSS per indexed blob as the
# slope between the smallest and the largest N, for both tools.
#
# Usage: scripts/bench-scale.sh [CAIRN_BIN] N [N...]   e.g. ... bin/cairn 300000 1500000
set -euo pipefail
cd "$(dirname "$0")/.."
cairn=$(realpath "${1:-bin/cairn}"); shift || true
[ $# -ge 1 ] || set -- 300000
tools=${CAIRN_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/cairn-tools}
scripts/install-tools.sh restic >&2
restic="$tools/bin/restic"
root=${BENCH_DIR:-/dev/shm/cairn-bench-scale}
rm -rf "$root"; mkdir -p "$root"
trap 'rm -rf "$root"' EXIT
go build -o "$root/measure" ./scripts/measure
go build -o "$root/gendata" ./scripts/gendata
export CAIRN_PASSWORD=bench RESTIC_PASSWORD=bench XDG_CACHE_HOME="$root/xdg-cache"
results="$root/results.tsv"; : > "$results"

m() { # m N STEP TOOL CMD...
	local n=$1 step=$2 tool=$3; shift 3
	local line
	line=$("$root/measure" "$@" 2>"$root/last.log" | tail -n 1)
	grep -q '"exit":0' <<<"$line" || { echo "bench-scale: $tool $step failed: $line" >&2; tail -n 20 "$root/last.log" >&2; exit 1; }
	python3 - "$n" "$step" "$tool" "$line" >> "$results" <<'PY'
import json, sys
n, step, tool, line = sys.argv[1:5]
m = json.loads(line)
print(f"{n}\t{step}\t{tool}\t{m['wall_s']:.3f}\t{m['rss_mb']:.1f}")
PY
}

for n in "$@"; do
	src="$root/src-$n"; one="$root/one-$n"
	"$root/gendata" small "$n" "$src"
	mkdir -p "$one"; head -c 2048 /dev/urandom > "$one/new-file"
	for tool in cairn restic; do
		repo="$root/repo-$n-$tool"
		if [ $tool = cairn ]; then
			run=("$cairn" -r "$repo" --quiet); "${run[@]}" init >/dev/null
		else
			run=("$restic" -r "$repo" --quiet --cache-dir "$root/restic-cache"); "${run[@]}" init >/dev/null
		fi
		m "$n" initial $tool "${run[@]}" backup "$src"
		m "$n" one-file $tool "${run[@]}" backup "$one"
		m "$n" nochange $tool "${run[@]}" backup "$src"
		rm -rf "$repo"
	done
	rm -rf "$src" "$one"
done

python3 - "$results" <<'PY'
import sys, collections
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
d = collections.defaultdict(dict)
for n, step, tool, wall, rss in rows:
    d[(int(n), step)][tool] = (float(wall), float(rss))
print(f"{'blobs':>9} {'step':9} {'cairn s':>8} {'restic s':>9} {'cairn MB':>9} {'restic MB':>10}")
for (n, step), t in sorted(d.items()):
    c, r = t["cairn"], t["restic"]
    print(f"{n:9d} {step:9} {c[0]:8.2f} {r[0]:9.2f} {c[1]:9.1f} {r[1]:10.1f}")
ns = sorted({n for n, _ in d})
if len(ns) >= 2:
    lo, hi = ns[0], ns[-1]
    for tool in ("cairn", "restic"):
        slope = (d[(hi, "one-file")][tool][1] - d[(lo, "one-file")][tool][1]) * 2**20 / (hi - lo)
        print(f"{tool}: {slope:.1f} bytes of peak RSS per indexed blob (one-file backup, slope {lo}..{hi})")
PY
