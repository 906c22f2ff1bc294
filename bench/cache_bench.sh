#!/usr/bin/env bash
# Benchmark: the first `ls` of a big remote tree through `castor mount
# --cache`, with a real `castor daemon` on a unix socket, for this castor and
# optionally an older one (BEFORE=path/to/castor). Not part of ctest. Needs
# root (mount).
#
#   BEFORE=/path/to/old/castor bench/cache_bench.sh [MIDS] [LEAVES]
#
# The tree: a root "t" of MIDS (default 100) directories of LEAVES (default
# 1000) directories each, every leaf holding one empty file named after it
# (so no two Directories are equal): MIDS * (LEAVES + 1) + 1 Directories.
# Rows (seconds, each mount fresh with an empty cache, the daemon warm):
#   ls t      - the mount's first `ls` of the root (one Directory needed)
#   ls t/m0   - then the first `ls` of one directory below it
#   walk      - then `find t | wc -l` (the whole tree)
#   walk again - `find` again in a new mount with the cache now filled, the
#              daemon stopped: what the cache holds is served offline
set -euo pipefail
mids=${1:-100}
leaves=${2:-1000}
root=$(cd "$(dirname "$0")/.." && pwd)
castor=${CASTOR:-$root/build/src/cli/castor}
before=${BEFORE:-}
work=$(mktemp -d /var/tmp/castor-cache-bench.XXXXXX)
store=$work/store
sock=$work/castor.sock
addr=grpc+unix://$sock
mnt=$work/mnt
mkdir -p "$mnt" "$work/t"
# shellcheck source=bench/daemon_lib.sh
. "$root/bench/daemon_lib.sh"

secs() { echo "scale=3; ($2 - $1) / 1" | bc; }
remote=(--blob-service-addr "$addr" --directory-service-addr "$addr" --root-service-addr "$addr")

echo "tree: $mids x $leaves directories" >&2
for ((m = 0; m < mids; m++)); do
  for ((l = 0; l < leaves; l++)); do echo "$work/t/m$m/l$l"; done
done | xargs mkdir -p
for ((m = 0; m < mids; m++)); do
  (cd "$work/t/m$m" && for d in l*; do : > "$d/f$m.$d"; done)
done
"$castor" import --store "$store" --name t "$work/t" > /dev/null
rm -rf "$work/t"
entries=$(( mids * (leaves + 1) + 1 + mids * leaves ))

declare -A r
mount_cached() {  # mount_cached BINARY CACHE MOUNT-ARGS...
  local bin=$1 cache=$2
  shift 2
  "$bin" mount "$mnt" --cache "$cache" "$@" 2>> "$work/mount.log" &
  mpid=$!
  wait_mount "$mnt"
}
unmount() { kill -TERM "$mpid"; wait "$mpid" || true; mpid=; }
rows() {  # rows KIND BINARY
  local kind=$1 bin=$2 cache=$work/cache-$1 t0 t1 n
  "$bin" daemon --store "$store" --listen "unix://$sock" > /dev/null 2>> "$work/daemon.log" &
  dpid=$!
  wait_sock "$sock"
  ls "$work" > /dev/null
  mount_cached "$bin" "$cache" "${remote[@]}"
  t0=$(now); ls "$mnt/t" > /dev/null; t1=$(now); r[$kind,ls]=$(secs "$t0" "$t1")
  t0=$(now); ls "$mnt/t/m0" > /dev/null; t1=$(now); r[$kind,ls2]=$(secs "$t0" "$t1")
  t0=$(now); n=$(find "$mnt/t" | wc -l); t1=$(now); r[$kind,walk]=$(secs "$t0" "$t1")
  [ "$n" -eq "$entries" ] || { echo "$kind: find saw $n entries, expected $entries" >&2; exit 1; }
  unmount
  kill -TERM "$dpid"; wait "$dpid" || true; dpid=
  # Offline: the roots come from the store's LMDB, directories only from the cache.
  mount_cached "$bin" "$cache" --blob-service-addr "$addr" --directory-service-addr "$addr" \
    --root-service-addr "lmdb://$store/meta"
  t0=$(now); n=$(find "$mnt/t" | wc -l); t1=$(now); r[$kind,again]=$(secs "$t0" "$t1")
  [ "$n" -eq "$entries" ] || { echo "$kind: offline find saw $n entries, expected $entries" >&2; exit 1; }
  unmount
}
rows now "$castor"
[ -n "$before" ] && rows before "$before"

echo
echo "$((mids * (leaves + 1) + 1)) directories; seconds"
if [ -n "$before" ]; then
  echo "| row | before | now |"
  echo "| --- | ---: | ---: |"
else
  echo "| row | now |"
  echo "| --- | ---: |"
fi
for row in ls ls2 walk again; do
  case $row in
    ls) name="first ls t" ;; ls2) name="then ls t/m0" ;; walk) name="then find t" ;;
    again) name="find t, new mount, daemon stopped" ;;
  esac
  if [ -n "$before" ]; then echo "| $name | ${r[before,$row]} | ${r[now,$row]} |"; else echo "| $name | ${r[now,$row]} |"; fi
done
