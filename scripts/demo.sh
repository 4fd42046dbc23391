#!/usr/bin/env bash
# The README's first command (`make demo`): create a local-directory
# repository in a temporary folder, back up a sample tree, restore it, and
# show that the restored tree is identical, content and metadata.
set -euo pipefail
bin=$(realpath "${1:-bin/cairn}")
work=$(mktemp -d "${TMPDIR:-/tmp}/cairn-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT

export CAIRN_REPOSITORY="$work/repo"
export CAIRN_PASSWORD="demo passphrase, use your own"
export XDG_CACHE_HOME="$work/cache"

# A sample tree with the things backups get wrong: odd names, symlinks,
# hard links, empty files, permissions, a sparse file, a larger file.
src="$work/sample"
mkdir -p "$src/docs/nested/deeper" "$src/empty-dir"
printf 'hello, cairn\n' > "$src/docs/hello.txt"
printf 'line one\nline two\n' > "$src/docs/name with spaces.txt"
printf 'tab\tand newline in name\n' > "$src/docs/$(printf 'odd\nname')"
: > "$src/docs/empty"
head -c 3000000 /dev/urandom > "$src/docs/nested/random.bin"
seq 1 200000 > "$src/docs/nested/deeper/numbers.txt"
ln -s ../hello.txt "$src/docs/nested/link-to-hello"
ln "$src/docs/hello.txt" "$src/docs/hardlink-to-hello"
chmod 0640 "$src/docs/hello.txt"
chmod 0750 "$src/docs/nested"
truncate -s 64M "$src/sparse.img" && printf 'tail' >> "$src/sparse.img"
cp -r "$(dirname "$bin")/../pkg" "$src/source-code" 2>/dev/null || true

echo "== cairn init"
"$bin" init
echo "== cairn backup $src"
"$bin" backup "$src"
echo "== cairn snapshots"
"$bin" snapshots
echo "== cairn restore latest"
"$bin" restore latest --target "$work/restored"
echo "== cairn verify latest --against the source"
"$bin" verify latest --against "$src"

echo "== comparing with diff and stat"
diff -r --no-dereference "$src" "$work/restored$src"
( cd "$src" && find . -printf '%p %M %s %T@ %l\n' | sort ) > "$work/a"
( cd "$work/restored$src" && find . -printf '%p %M %s %T@ %l\n' | sort ) > "$work/b"
diff "$work/a" "$work/b"
echo "demo: restored tree is identical (content, modes, sizes, mtimes, symlinks)"
