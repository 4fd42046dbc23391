#!/usr/bin/env bash
# make bench: cairn against restic 0.18.1 on the same data, in the same run.
#
# Data sets (on tmpfs, so we measure the programs and not the shared disk):
#   goroot - a copy of $(go env GOROOT)
#   mixed  - a 1 GiB random file, ~256 MiB of compressible text, 50,000 small files
# Steps: initial backup, no-change backup, backup after changing 5% of the
# files, full restore. For each: wall and CPU time, peak RSS; and the
# repository size. Prints cairn/restic ratios (lower is better for cairn).
#
# Usage: scripts/bench.sh [CAIRN_BIN] [SETS...]   (default sets: goroot mixed)
# Env: BENCH_DIR (default /dev/shm/cairn-bench), CAIRN_TOOLS.
set -euo pipefail
cd "$(dirname "$0")/.."
cairn=$(realpath "${1:-bin/cairn}"); shift || true
sets=("${@:-goroot mixed}"); read -r -a sets <<< "${sets[*]}"
tools=${CAIRN_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/cairn-tools}
scripts/install-tools.sh restic >&2
restic="$tools/bin/restic"
root=${BENCH_DIR:-/dev/shm/cairn-bench}
rm -rf "$root"; mkdir -p "$root"
trap 'rm -rf "$root"' EXIT
go build -o "$root/measure" ./scripts/measure
go build -o "$root/gendata" ./scripts/gendata

export CAIRN_PASSWORD=bench RESTIC_PASSWORD=bench
export XDG_CACHE_HOME="$root/xdg-cache"
results="$root/results.tsv"; : > "$results"

# measure LABEL TOOL CMD... -> appends "set step tool wall cpu rss" to results
measure() {
	local set=$1 step=$2 tool=$3; shift 3
	local line
	sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
	line=$("$root/measure" "$@" 2>"$root/last.log" | tail -n 1)
	if ! grep -q '"exit":[03]' <<<"$line"; then
		echo "bench: $tool $step on $set failed: $line" >&2; tail -n 20 "$root/last.log" >&2; exit 1
	fi
	python3 - "$set" "$step" "$tool" "$line" >> "$results" <<'PY'
import json, sys
s, step, tool, line = sys.argv[1:5]
m = json.loads(line)
print(f"{s}\t{step}\t{tool}\t{m['wall_s']:.3f}\t{m['cpu_s']:.3f}\t{m['rss_mb']:.1f}")
PY
}

change_5pct() { # append a line to every 20th regular file
	find "$1" -type f | sort | awk 'NR % 20 == 0' | while read -r f; do echo "changed $RANDOM" >> "$f"; done
}

for set in "${sets[@]}"; do
	src="$root/src-$set"
	case $set in
	goroot) cp -a "$(go env GOROOT)" "$src" ;;
	mixed) "$root/gendata" mixed "$src" ;;
	*) echo "unknown set $set" >&2; exit 2 ;;
	esac
	for tool in cairn restic; do
		repo="$root/repo-$set-$tool"; target="$root/restore-$set-$tool"
		work="$root/work-$set"; rm -rf "$work"; cp -a "$src" "$work"
		if [ $tool = cairn ]; then
			"$cairn" -r "$repo" init >/dev/null
			run=("$cairn" -r "$repo" --quiet)
			backup=("${run[@]}" backup "$work"); restore=("${run[@]}" restore latest --target "$target")
		else
			"$restic" -r "$repo" init >/dev/null
			run=("$restic" -r "$repo" --quiet --cache-dir "$root/restic-cache")
			backup=("${run[@]}" backup "$work"); restore=("${run[@]}" restore latest --target "$target")
		fi
		measure "$set" initial $tool "${backup[@]}"
		measure "$set" nochange $tool "${backup[@]}"
		change_5pct "$work"
		measure "$set" changed5 $tool "${backup[@]}"
		measure "$set" restore $tool "${restore[@]}"
		printf '%s\trepo-size\t%s\t%s\t0\t0\n' "$set" $tool "$(du -sb "$repo" | cut -f1)" >> "$results"
		rm -rf "$target" "$work"
	done
	rm -rf "$src" "$root"/repo-"$set"-*
done

python3 - "$results" <<'PY'
import sys, collections
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
d = collections.defaultdict(dict)
for s, step, tool, wall, cpu, rss in rows:
    d[(s, step)][tool] = (float(wall), float(cpu), float(rss))
print(f"{'set':8} {'step':10} {'cairn wall':>10} {'restic wall':>11} {'wall x':>7} {'cpu x':>7} {'rss x':>7}")
for (s, step), t in d.items():
    c, r = t["cairn"], t["restic"]
    if step == "repo-size":
        print(f"{s:8} {step:10} {c[0]/2**20:9.1f}M {r[0]/2**20:10.1f}M {c[0]/r[0]:7.2f}")
        continue
    ratio = lambda a, b: a / b if b else float("nan")
    print(f"{s:8} {step:10} {c[0]:9.2f}s {r[0]:10.2f}s {ratio(c[0],r[0]):7.2f} {ratio(c[1],r[1]):7.2f} {ratio(c[2],r[2]):7.2f}")
print("ratios are cairn/restic: below 1.00 means cairn is faster / smaller")
PY
