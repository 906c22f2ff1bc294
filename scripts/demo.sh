#!/usr/bin/env bash
# The demo of README command (1): imports a sample tree into the embedded
# default store ($CASTOR_STORE, else $XDG_DATA_HOME/castor, else
# ~/.local/share/castor), shows it with `castor roots` and `castor ls`, then
# mounts the store (FUSE, needs /dev/fuse and fusermount3), reads the tree
# through the mount and unmounts it again; nothing stays mounted, even when a
# step fails.
# Usage: scripts/demo.sh [BUILD_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
castor=${CASTOR_BIN:-${1:-$root/build}/src/cli/castor}
[ -x "$castor" ] || { echo "demo: $castor not built (run scripts/build.sh)" >&2; exit 1; }

work=$(mktemp -d /tmp/castor-demo-XXXXXX)
mnt=$work/mnt
mounted() { grep -qs " $mnt fuse" /proc/self/mounts; }
cleanup() {
  if mounted; then
    fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -uz "$mnt" || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
sample=$work/castor-demo
mkdir -p "$sample"
# A small real directory...
if [ -d /usr/share/doc/bash ]; then
  cp -a /usr/share/doc/bash "$sample/bash-doc"
fi
# ...and something generated: nested dirs, an executable, a symlink, a
# non-ASCII name, an empty file and directory, duplicated content.
mkdir -p "$sample/generated/a/b/c" "$sample/generated/empty-dir"
printf '#!/bin/sh\necho "hello from castor"\n' > "$sample/generated/hello.sh"
chmod +x "$sample/generated/hello.sh"
ln -s hello.sh "$sample/generated/link-to-hello"
echo "grüße, 世界" > "$sample/generated/a/b/c/ünïcødé.txt"
: > "$sample/generated/empty"
head -c 1000000 /dev/zero > "$sample/generated/zeros-1"
cp "$sample/generated/zeros-1" "$sample/generated/zeros-2"

store=${CASTOR_STORE:-${XDG_DATA_HOME:-$HOME/.local/share}/castor}
echo "== castor import $sample   (store: $store)"
"$castor" import --force "$sample"
echo
echo "== castor roots"
"$castor" roots
echo
echo "== castor ls -l castor-demo"
"$castor" ls -l castor-demo
echo
echo "== castor ls castor-demo/generated"
"$castor" ls castor-demo/generated
echo
echo "== castor cat castor-demo/generated/hello.sh"
"$castor" cat castor-demo/generated/hello.sh
echo
echo "== castor verify --roots castor-demo"
"$castor" verify --roots castor-demo
echo
echo "== castor mount --background --list-root $mnt"
mkdir -p "$mnt"
"$castor" mount --background --list-root "$mnt"
echo
echo "== ls -l $mnt/castor-demo/generated   (through the mount)"
ls -l "$mnt/castor-demo/generated"
echo
echo "== cat $mnt/castor-demo/generated/a/b/c/ünïcødé.txt"
cat "$mnt/castor-demo/generated/a/b/c/ünïcødé.txt"
cmp "$mnt/castor-demo/generated/zeros-1" "$sample/generated/zeros-1"
echo
echo "== fusermount3 -u $mnt"
fusermount3 -u "$mnt"
if mounted; then
  echo "demo: $mnt is still mounted" >&2
  exit 1
fi
