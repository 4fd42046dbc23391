#!/usr/bin/env bash
# make bench: cairn against restic 0.18.1 (and kopia, when `kopia` is on
# PATH) on the same data, the same storage, in the same run.
#
# Data sets (BENCH_SETS, or the arguments after CAIRN_BIN; all on tmpfs, so
# we measure the programs and not the shared disk):
#   goroot   - a copy of $(go env GOROOT); BENCH_GOROOT_SUBDIR=src/net copies
#              only that part of it (quick runs)
#   mixed    - a 1 GiB random file, ~256 MiB of compressible text, 50,000 small files
#   modcache - a copy of $(go env GOMODCACHE); BENCH_MODCACHE_MB=N copies only
#              whole module directories, in sorted order, until N MiB
# Backends (BENCH_BACKENDS):
#   local    - a repository directory on tmpfs
#   minio    - a MinIO on loopback (data on tmpfs), reached through
#              scripts/s3proxy with no delay, only to count requests
#   proxy    - the same MinIO through scripts/s3proxy adding
#              BENCH_PROXY_LATENCY (default 20ms) each way per request and a
#              cap of BENCH_PROXY_BANDWIDTH bytes/s each way (default 100 MiB/s)
# Steps: initial backup, no-change backup, backup after changing 5% of the
# files, `ls latest` (S3 backends only), full restore. For each: wall and
# CPU time, peak RSS, requests by kind (S3 backends), repository bytes after
# the step. Then cairn/restic ratios with the targets of issue 13 marked.
#
# BENCH_ROUNDS=N repeats each tool's steps N times (tools alternating) and
# takes the ratios of the medians.
#
# Usage: scripts/bench.sh [CAIRN_BIN] [SETS...]
# Env: BENCH_SETS (default "goroot mixed modcache"),
#      BENCH_BACKENDS (default "local minio proxy"),
#      BENCH_ROUNDS (default 1), BENCH_TSV, BENCH_JSON (also write the results there),
#      BENCH_DIR (default /dev/shm/cairn-bench), CAIRN_TOOLS,
#      BENCH_GOROOT_SUBDIR, BENCH_MODCACHE_MB, BENCH_PROXY_LATENCY,
#      BENCH_PROXY_BANDWIDTH.
set -euo pipefail
cd "$(dirname "$0")/.."
cairn=$(realpath "${1:-bin/cairn}"); shift || true
if [ $# -gt 0 ]; then sets=("$@"); else read -r -a sets <<< "${BENCH_SETS:-goroot mixed modcache}"; fi
read -r -a backends <<< "${BENCH_BACKENDS:-local minio proxy}"
tools=(cairn restic)
if command -v kopia >/dev/null; then tools+=(kopia); fi
latency=${BENCH_PROXY_LATENCY:-20ms}
bandwidth=${BENCH_PROXY_BANDWIDTH:-104857600}
rounds=${BENCH_ROUNDS:-1}
for b in "${backends[@]}"; do
	case $b in local | minio | proxy) ;; *) echo "bench: unknown backend $b (local minio proxy)" >&2; exit 2 ;; esac
done
for s in "${sets[@]}"; do
	case $s in goroot | mixed | modcache) ;; *) echo "bench: unknown set $s (goroot mixed modcache)" >&2; exit 2 ;; esac
done
for c in jq curl python3 go; do
	command -v "$c" >/dev/null || { echo "bench: needs $c on PATH" >&2; exit 2; }
done
need_s3=false
for b in "${backends[@]}"; do [ "$b" = local ] || need_s3=true; done

toolsdir=${CAIRN_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/cairn-tools}
if $need_s3; then scripts/install-tools.sh restic minio mc >&2; else scripts/install-tools.sh restic >&2; fi
restic="$toolsdir/bin/restic" minio="$toolsdir/bin/minio" mc="$toolsdir/bin/mc"
root=${BENCH_DIR:-/dev/shm/cairn-bench}
rm -rf "$root"; mkdir -p "$root"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$root"
}
trap cleanup EXIT
go build -o "$root/measure" ./scripts/measure
go build -o "$root/gendata" ./scripts/gendata
go build -o "$root/s3proxy" ./scripts/s3proxy

export CAIRN_PASSWORD=bench RESTIC_PASSWORD=bench KOPIA_PASSWORD=bench
export XDG_CACHE_HOME="$root/xdg-cache"
export AWS_ACCESS_KEY_ID=benchadmin AWS_SECRET_ACCESS_KEY=bench-secret-key
results="$root/results.tsv"
printf 'set\tbackend\ttool\tstep\tround\twall_s\tcpu_s\trss_mb\tGET\tPUT\tHEAD\tLIST\tDELETE\tPOST\tOTHER\tbytes_up\tbytes_down\trepo_bytes\n' > "$results"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_proxy NAME LATENCY BANDWIDTH: starts s3proxy in front of MinIO and
# sets proxy_addr to its address.
start_proxy() {
	local out="$root/$1.addr"
	"$root/s3proxy" -listen 127.0.0.1:0 -target "http://$minio_addr" -latency "$2" -bandwidth "$3" \
		> "$out" 2> "$root/$1.log" &
	pids+=($!)
	for _ in $(seq 100); do [ -s "$out" ] && break; sleep 0.1; done
	proxy_addr=$(head -n 1 "$out")
	[ -n "$proxy_addr" ] || { echo "bench: s3proxy $1 did not start" >&2; cat "$root/$1.log" >&2; exit 1; }
}

if $need_s3; then
	minio_addr=127.0.0.1:$(free_port)
	MINIO_ROOT_USER=$AWS_ACCESS_KEY_ID MINIO_ROOT_PASSWORD=$AWS_SECRET_ACCESS_KEY MINIO_BROWSER=off MINIO_UPDATE=off \
		"$minio" server --address "$minio_addr" --console-address "127.0.0.1:$(free_port)" "$root/minio-data" \
		> "$root/minio.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 150); do curl -sf "http://$minio_addr/minio/health/ready" >/dev/null && break; sleep 0.2; done
	curl -sf "http://$minio_addr/minio/health/ready" >/dev/null || { echo "bench: MinIO did not start" >&2; tail "$root/minio.log" >&2; exit 1; }
	export MC_CONFIG_DIR="$root/mc" MC_HOST_bench="http://$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY@$minio_addr"
	start_proxy count 0 0; count_addr=$proxy_addr
	for b in "${backends[@]}"; do
		if [ "$b" = proxy ]; then start_proxy far "$latency" "$bandwidth"; far_addr=$proxy_addr; fi
	done
fi

# stats ADDR: the proxy's counters as TSV fields (GET..OTHER, bytes up, down), reset.
stats() {
	curl -sf "http://$1/_s3proxy/stats?reset=1" |
		jq -r '[.GET, .PUT, .HEAD, .LIST, .DELETE, .POST, .OTHER, .bytes_up, .bytes_down] | @tsv'
}

# repo_bytes: the size of the current repository ($repo, or $bucket on S3).
repo_bytes() {
	if [ "$backend" = local ]; then du -sb "$repo" | cut -f1
	else "$mc" du --json "bench/$bucket" | jq -r .size; fi
}

# measure STEP CMD...: runs CMD, appends one row to $results.
measure() {
	local step=$1; shift
	local line counts
	sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
	[ -z "$addr" ] || stats "$addr" > /dev/null
	line=$("$root/measure" "$@" 2>"$root/last.log" | tail -n 1)
	if ! grep -q '"exit":[03]' <<<"$line"; then
		echo "bench: $tool $step on $set/$backend failed: $line" >&2; tail -n 20 "$root/last.log" >&2; exit 1
	fi
	if [ -n "$addr" ]; then counts=$(stats "$addr"); else counts=$(printf '\t\t\t\t\t\t\t\t'); fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$set" "$backend" "$tool" "$step" "$round" \
		"$(jq -r '[.wall_s, .cpu_s, .rss_mb] | map(. * 1000 | round / 1000) | @tsv' <<<"$line")" \
		"$counts" "$(repo_bytes)" >> "$results"
}

change_5pct() { # append a line to every 20th regular file
	find "$1" -type f | sort | awk 'NR % 20 == 0' | while read -r f; do echo "changed $RANDOM" >> "$f"; done
}

# make_set SET DIR: writes the data set into DIR.
make_set() {
	case $1 in
	goroot) cp -a "$(go env GOROOT)/${BENCH_GOROOT_SUBDIR:-}" "$2" ;;
	mixed) "$root/gendata" mixed "$2" ;;
	modcache)
		local mod; mod=$(go env GOMODCACHE)
		if [ -z "${BENCH_MODCACHE_MB:-}" ]; then
			cp -a "$mod" "$2"
		else
			mkdir -p "$2"
			local cap=$((BENCH_MODCACHE_MB << 20)) total=0 d
			while read -r d && [ "$total" -lt "$cap" ]; do
				(cd "$mod" && cp -a --parents "$d" "$2")
				total=$((total + $(du -sb "$mod/$d" | cut -f1)))
			done < <(cd "$mod" && find . -path ./cache -prune -o -type d -name '*@*' -print -prune | sort)
		fi
		chmod -R u+w "$2" # the module cache is read-only; the changed5 step writes
		;;
	esac
}

# setup_tool: sets init, backup, ls and restore commands for $tool on $backend.
setup_tool() {
	local url
	case $tool in
	cairn)
		if [ "$backend" = local ]; then url=$repo; else url="s3+http://$addr/$bucket"; fi
		run=("$cairn" -r "$url" --quiet)
		init=("${run[@]}" init); backup=("${run[@]}" backup "$work")
		ls=("${run[@]}" ls latest); restore=("${run[@]}" restore latest --target "$target")
		;;
	restic)
		if [ "$backend" = local ]; then url=$repo; else url="s3:http://$addr/$bucket"; fi
		run=("$restic" -r "$url" --quiet --cache-dir "$root/restic-cache")
		init=("${run[@]}" init); backup=("${run[@]}" backup "$work")
		ls=("${run[@]}" ls latest); restore=("${run[@]}" restore latest --target "$target")
		;;
	kopia) # joins when installed; not exercised on the development machine
		run=(kopia --config-file "$root/kopia-$set-$backend.config")
		if [ "$backend" = local ]; then init=("${run[@]}" repository create filesystem --cache-directory "$root/kopia-cache" --path "$repo")
		else init=("${run[@]}" repository create s3 --cache-directory "$root/kopia-cache" --bucket "$bucket" --endpoint "$addr" --disable-tls \
			--access-key "$AWS_ACCESS_KEY_ID" --secret-access-key "$AWS_SECRET_ACCESS_KEY"); fi
		backup=("${run[@]}" snapshot create "$work")
		restore=(sh -c 'w=$1 t=$2; shift 2; "$@" snapshot restore "$("$@" snapshot list --json "$w" | jq -r ".[-1].rootEntry.obj")" "$t"' \
			sh "$work" "$target" "${run[@]}")
		ls=(sh -c 'w=$1; shift; "$@" ls -r "$("$@" snapshot list --json "$w" | jq -r ".[-1].rootEntry.obj")"' sh "$work" "${run[@]}")
		;;
	esac
}

for set in "${sets[@]}"; do
	src="$root/src-$set"
	make_set "$set" "$src"
	echo "bench: $set: $(du -sh "$src" | cut -f1), $(find "$src" | wc -l) entries" >&2
	for backend in "${backends[@]}"; do
		case $backend in local) addr= ;; minio) addr=$count_addr ;; proxy) addr=$far_addr ;; esac
		for round in $(seq "$rounds"); do for tool in "${tools[@]}"; do
			echo "bench: $set / $backend / $tool (round $round of $rounds)" >&2
			repo="$root/repo-$set-$tool" target="$root/restore-$set-$tool" bucket="bench-$set-$tool"
			work="$root/work-$set"; rm -rf "$work"; cp -a "$src" "$work"
			[ "$backend" = local ] || "$mc" mb --quiet "bench/$bucket" >/dev/null
			setup_tool
			"${init[@]}" > /dev/null
			measure initial "${backup[@]}"
			measure nochange "${backup[@]}"
			change_5pct "$work"
			measure changed5 "${backup[@]}"
			[ "$backend" = local ] || measure ls "${ls[@]}"
			measure restore "${restore[@]}"
			rm -rf "$target" "$work" "$repo"
			[ "$backend" = local ] || "$mc" rb --force "bench/$bucket" >/dev/null
		done; done
	done
	rm -rf "$src"
done

# The report: a table per set and backend, then cairn's ratios to the
# others with issue 13's targets (restore <= 0.5 everywhere; initial and
# no-change backups <= 0.5 on S3; repository bytes <= 1.0).
python3 - "$results" "${BENCH_JSON:-}" \
	"sets=${sets[*]}" "backends=${backends[*]}" "tools=${tools[*]}" \
	"proxy_latency=$latency" "proxy_bandwidth=$bandwidth" "rounds=$rounds" \
	"goroot_subdir=${BENCH_GOROOT_SUBDIR:-}" "modcache_mb=${BENCH_MODCACHE_MB:-}" \
	"cairn=$("$cairn" version 2>/dev/null | head -n 1)" "commit=$(git rev-parse --short HEAD 2>/dev/null)" \
	"date=$(date -u +%FT%TZ)" <<'PY'
import json, statistics, sys
path, jpath = sys.argv[1], sys.argv[2]
meta = dict(a.split("=", 1) for a in sys.argv[3:])
lines = [l.rstrip("\n").split("\t") for l in open(path)]
head, rows = lines[0], []
kinds = ["GET", "PUT", "HEAD", "LIST", "DELETE", "POST", "OTHER"]
for l in lines[1:]:
    r = dict(zip(head, l))
    for k in head[4:]:
        r[k] = (float(r[k]) if "." in r[k] else int(r[k])) if r[k] != "" else None
    r["requests"] = sum(r[k] for k in kinds) if r["GET"] is not None else None
    rows.append(r)
tools = meta["tools"].split()
groups = {}
for r in rows:
    groups.setdefault((r["set"], r["backend"]), []).append(r)
mb = lambda b: "" if b is None else f"{b / 2**20:.1f}"
num = lambda v: "" if v is None else str(v)
for (s, b), rs in groups.items():
    print(f"\n== {s} / {b} ==")
    print(f"{'step':9} {'tool':7} {'r':>2} {'wall s':>8} {'cpu s':>8} {'rss MB':>7} " + " ".join(f"{k:>6}" for k in kinds)
          + f" {'up MB':>8} {'down MB':>8} {'repo MB':>8}")
    for r in rs:
        print(f"{r['step']:9} {r['tool']:7} {r['round']:2} {r['wall_s']:8.2f} {r['cpu_s']:8.2f} {r['rss_mb']:7.1f} "
              + " ".join(f"{num(r[k]):>6}" for k in kinds)
              + f" {mb(r['bytes_up']):>8} {mb(r['bytes_down']):>8} {mb(r['repo_bytes']):>8}")

def target(backend, step):
    if step == "restore": return 0.5
    if step in ("initial", "nochange") and backend != "local": return 0.5
    if step == "repo-bytes": return 1.0
    return None

ratio = lambda a, b: a / b if a is not None and b else None
# With several rounds, ratios are of the medians of each tool's rounds.
runs = {}
for r in rows:
    runs.setdefault((r["set"], r["backend"], r["step"], r["tool"]), []).append(r)
def med(rs):
    return {k: (statistics.median(v) if (v := [r[k] for r in rs if r[k] is not None]) else None)
            for k in ("wall_s", "cpu_s", "rss_mb", "requests", "repo_bytes")}
by = {k: med(v) for k, v in runs.items()}
ratios = []
for (s, b), rs in groups.items():
    steps = list(dict.fromkeys(r["step"] for r in rs)) + ["repo-bytes"]
    for step in steps:
        for other in tools[1:]:
            if step == "repo-bytes":
                c, o = by.get((s, b, "changed5", "cairn")), by.get((s, b, "changed5", other))
                if not c or not o: continue
                e = {"wall": ratio(c["repo_bytes"], o["repo_bytes"])}
            else:
                c, o = by.get((s, b, step, "cairn")), by.get((s, b, step, other))
                if not c or not o: continue
                e = {m: ratio(c[k], o[k]) for m, k in (("wall", "wall_s"), ("cpu", "cpu_s"), ("rss", "rss_mb"), ("requests", "requests"))}
            t = target(b, step) if other == "restic" else None
            e.update(set=s, backend=b, step=step, vs=other, target=t,
                     result=None if t is None or e["wall"] is None else ("pass" if e["wall"] <= t else "FAIL"))
            ratios.append(e)
f = lambda v: "" if v is None else f"{v:.2f}"
print("\ncairn / other (below 1.00: cairn is faster or smaller; 'wall' is bytes for repo-bytes)")
print(f"{'set':9} {'backend':7} {'step':10} {'vs':7} {'wall':>6} {'cpu':>6} {'rss':>6} {'reqs':>6} {'target':>7} result")
for e in ratios:
    print(f"{e['set']:9} {e['backend']:7} {e['step']:10} {e['vs']:7} {f(e['wall']):>6} {f(e.get('cpu')):>6} {f(e.get('rss')):>6} "
          f"{f(e.get('requests')):>6} {('<= ' + f(e['target'])) if e['target'] else '':>7} {e['result'] or ''}")
marked = [e for e in ratios if e["result"]]
print(f"targets met: {sum(e['result'] == 'pass' for e in marked)} of {len(marked)}")
if jpath:
    with open(jpath, "w") as out:
        json.dump({"meta": meta, "rows": rows, "ratios": ratios}, out, indent=1)
PY
if [ -n "${BENCH_TSV:-}" ]; then cp "$results" "$BENCH_TSV"; fi
