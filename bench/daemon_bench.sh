#!/usr/bin/env bash
# Benchmark: the store through `castor daemon` on a unix socket versus the
# same store used directly, in one run. Not part of ctest. Needs root
# (drop_caches, mount).
#
#   bench/daemon_bench.sh [SRC_TREE] [BIG_FILE_MIB]
#
# SRC_TREE defaults to /usr/share (a tree of many small files); the big file
# (default 256 MiB) is random bytes. Rows: import of the tree, import of the
# big file, then with a fresh mount and cold caches a metadata walk, reading
# every file, and a sequential read of the big file; finally `castor export`
# of the tree. Each row: local store, through the daemon, ratio.
set -euo pipefail
src=${1:-/usr/share}
big_mib=${2:-256}
root=$(cd "$(dirname "$0")/.." && pwd)
castor=${CASTOR:-$root/build/src/cli/castor}
work=$(mktemp -d /var/tmp/castor-daemon-bench.XXXXXX)
local_store=$work/local
remote_store=$work/remote
sock=$work/castor.sock
addr=grpc+unix://$sock
mnt=$work/mnt
mkdir -p "$mnt" "$work/bigdir"
# shellcheck source=bench/daemon_lib.sh
. "$root/bench/daemon_lib.sh"

secs() { local t0 t1; t0=$(now); "$@" > /dev/null 2>&1 || true; t1=$(now); echo "$t1 - $t0" | bc; }
walk() { find "$1" -printf '%s %m %i %y\n' > /dev/null; }
read_all() { (cd "$1" && find . -type f -print0 | xargs -0 -r -P 4 -n 256 cat > /dev/null); }
seq_read() { dd if="$1" of=/dev/null bs=1M status=none; }
remote=(--blob-service-addr "$addr" --directory-service-addr "$addr" --root-service-addr "$addr")

echo "tree: $src ($(find "$src" -xdev | wc -l) entries), big file: $big_mib MiB" >&2
head -c $((big_mib * 1024 * 1024)) /dev/urandom > "$work/bigdir/big"

"$castor" daemon --store "$remote_store" --listen "unix://$sock" > /dev/null 2> "$work/daemon.log" &
dpid=$!
wait_sock "$sock"

declare -A r
drop; r[local,import]=$(secs "$castor" import --store "$local_store" --name tree "$src")
drop; r[daemon,import]=$(secs "$castor" import "${remote[@]}" --name tree "$src")
drop; r[local,importbig]=$(secs "$castor" import --store "$local_store" --name big "$work/bigdir/big")
drop; r[daemon,importbig]=$(secs "$castor" import "${remote[@]}" --name big "$work/bigdir/big")

measure() {  # measure KIND MOUNT-ARGS...
  local kind=$1
  shift
  drop
  "$castor" mount "$mnt" "$@" 2> "$work/mount.log" &
  mpid=$!
  wait_mount "$mnt"
  r[$kind,walk]=$(secs walk "$mnt/tree")
  drop; r[$kind,read]=$(secs read_all "$mnt/tree")
  drop; r[$kind,seq]=$(secs seq_read "$mnt/big")
  kill -TERM "$mpid"; wait "$mpid" || true; mpid=
}
measure local --store "$local_store"
measure daemon "${remote[@]}"
drop; r[local,export]=$(secs "$castor" export --store "$local_store" tree "$work/export-local")
drop; r[daemon,export]=$(secs "$castor" export "${remote[@]}" tree "$work/export-daemon")

ratio() { echo "scale=2; $1 / $2" | bc; }
echo
echo "| row | local s | daemon s | daemon/local |"
echo "| --- | ---: | ---: | ---: |"
for row in import importbig walk read seq export; do
  case $row in
    import) label="import the tree";;
    importbig) label="import ${big_mib} MiB file";;
    walk) label="metadata walk, fresh mount, cold caches";;
    read) label="read every file (cold)";;
    seq) label="sequential read ${big_mib} MiB (cold)";;
    export) label="castor export of the tree (cold)";;
  esac
  l=${r[local,$row]} d=${r[daemon,$row]}
  printf '| %s | %.3f | %.3f | %s |\n' "$label" "$l" "$d" "$(ratio "$d" "$l")"
done
