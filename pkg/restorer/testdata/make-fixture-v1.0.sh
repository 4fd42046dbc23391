#!/usr/bin/env bash
# Makes testdata/fixture-v1.0: a repository written by cairn at commit
# 4f59110 (format 1.0: CAIRNPK1 pack headers, index entries without
# plaintext lengths), with two snapshots of a small tree, and a manifest of
# what each snapshot must restore to. TestFixtureV10 restores it with the
# current code. Run once with that cairn binary; the output is checked in
# and never regenerated (it is the old format we promise to keep reading).
#   usage: make-fixture-v1.0.sh OLD_CAIRN_BINARY OUTDIR
set -euo pipefail
cairn=$1 out=$2
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
src=$work/src/home/ann
mkdir -p "$src/docs" "$src/empty-dir" "$work/src/etc"
python3 - "$src" <<'PY'
import random, sys
d = sys.argv[1]
r = random.Random(42)
open(d + '/docs/random.bin', 'wb').write(bytes(r.getrandbits(8) for _ in range(1600 * 1024)))
open(d + '/docs/text.txt', 'w').write(''.join('line %d of a compressible text file\n' % i for i in range(60000)))
for i in range(20):
    open(d + '/docs/small-%02d.txt' % i, 'w').write(('small file %d\n' % i) * (i + 1))
open(d + '/docs/zeros.img', 'wb').write(b'\0' * (700 * 1024) + b'tail')
PY
cd "$src"
: > docs/empty
ln -s docs/text.txt link-to-text
ln docs/small-03.txt hardlink-03
chmod 0640 docs/small-05.txt; chmod 0755 docs/small-06.txt
echo conf > "$work/src/etc/app.conf"
touch -d '2025-06-01 12:34:56.123456789' docs/small-07.txt
export CAIRN_PASSWORD=fixture CAIRN_INSECURE_TEST_KDF=1 XDG_CACHE_HOME=$work/cache XDG_STATE_HOME=$work/state
manifest() { # path type mode size sha256/target mtime-ns, relative to src
	(cd "$work/src" && find . -mindepth 1 | LC_ALL=C sort | while read -r p; do
		if [ -L "$p" ]; then printf '%s\tl\t%s\t0\t%s\t%s\n' "${p#./}" "$(stat -c %a "$p")" "$(readlink "$p")" "$(stat -c %.9Y "$p" | tr -d .)"
		elif [ -d "$p" ]; then printf '%s\td\t%s\t0\t-\t-\n' "${p#./}" "$(stat -c %a "$p")"
		else printf '%s\tf\t%s\t%s\t%s\t%s\n' "${p#./}" "$(stat -c %a "$p")" "$(stat -c %s "$p")" "$(sha256sum < "$p" | cut -d' ' -f1)" "$(stat -c %.9Y "$p" | tr -d .)"
		fi
	done)
}
mkdir -p "$out"
"$cairn" -r "$out/repo" init --pack-size 1M
"$cairn" -r "$out/repo" backup --host fixture --time 2026-12-01T10:00:00Z "$work/src" 2>/dev/null || "$cairn" -r "$out/repo" backup --host fixture "$work/src"
manifest > "$out/snapshot1.tsv"
echo changed >> docs/small-10.txt
python3 -c "f=open('docs/random.bin','r+b'); f.seek(800*1024); f.write(b'X'*100)"
rm docs/small-19.txt
"$cairn" -r "$out/repo" backup --host fixture "$work/src"
manifest > "$out/snapshot2.tsv"
echo "$work/src" > "$out/source-path"
