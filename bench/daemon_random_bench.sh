#!/usr/bin/env bash
# Benchmark: random access into one big file through `castor mount`, from the
# local store, through `castor daemon` (chunked, verified reads), and through
# a daemon + mount of an older castor (BEFORE=path/to/castor, e.g. a build of
# main before chunked reads: it downloads and hashes the whole blob on open).
# Not part of ctest. Needs root (drop_caches, mount).
#
#   BEFORE=/path/to/old/castor bench/daemon_random_bench.sh [BIG_FILE_MIB] [READS]
#
# Rows, each with a fresh mount and cold page caches:
#   first  - open + pread of 4 KiB in the middle (time to first byte); for the
#            daemon this includes its first Stat, which lays the blob out
#   again  - the same with a new mount but the daemon already up (layout in
#            the daemon's memory)
#   random - READS (default 64) preads of 4 KiB at random offsets
# Each column is seconds; ratios against the local store.
set -euo pipefail
big_mib=${1:-1024}
reads=${2:-64}
root=$(cd "$(dirname "$0")/.." && pwd)
castor=${CASTOR:-$root/build/src/cli/castor}
before=${BEFORE:-}
work=$(mktemp -d /var/tmp/castor-random-bench.XXXXXX)
store=$work/store
sock=$work/castor.sock
addr=grpc+unix://$sock
mnt=$work/mnt
mkdir -p "$mnt" "$work/bigdir"
# shellcheck source=bench/daemon_lib.sh
. "$root/bench/daemon_lib.sh"

remote=(--blob-service-addr "$addr" --directory-service-addr "$addr" --root-service-addr "$addr")

# prints "first random" seconds: one pread in the middle, then READS random preads
probe() {
  python3 - "$1" "$reads" <<'EOF'
import os, random, sys, time
path, n = sys.argv[1], int(sys.argv[2])
t0 = time.monotonic()
fd = os.open(path, os.O_RDONLY)
size = os.fstat(fd).st_size
assert len(os.pread(fd, 4096, size // 2 + 12345)) == 4096
t1 = time.monotonic()
rng = random.Random(1)
for _ in range(n):
    assert len(os.pread(fd, 4096, rng.randrange(0, size - 4096))) == 4096
t2 = time.monotonic()
os.close(fd)
print(f"{t1 - t0:.4f} {t2 - t1:.4f}")
EOF
}

echo "big file: $big_mib MiB, $reads random 4 KiB reads" >&2
head -c $((big_mib * 1024 * 1024)) /dev/urandom > "$work/bigdir/big"
"$castor" import --store "$store" --name big "$work/bigdir/big" > /dev/null
rm -f "$work/bigdir/big"

declare -A r
run_mount() {  # run_mount KIND BINARY ROW MOUNT-ARGS...
  local kind=$1 bin=$2 row=$3
  shift 3
  drop
  "$bin" mount "$mnt" "$@" 2>> "$work/mount.log" &
  mpid=$!
  wait_mount "$mnt"
  local out
  out=$(probe "$mnt/big")
  r[$kind,$row]=${out% *}
  if [ "$row" = first ]; then r[$kind,random]=${out#* }; fi
  kill -TERM "$mpid"; wait "$mpid" || true; mpid=
}

run_mount local "$castor" first --store "$store"
run_mount local "$castor" again --store "$store"

daemon_rows() {  # daemon_rows KIND BINARY
  local kind=$1 bin=$2
  drop
  "$bin" daemon --store "$store" --listen "unix://$sock" > /dev/null 2>> "$work/daemon.log" &
  dpid=$!
  wait_sock "$sock"
  run_mount "$kind" "$bin" first "${remote[@]}"
  run_mount "$kind" "$bin" again "${remote[@]}"
  kill -TERM "$dpid"; wait "$dpid" || true; dpid=
}
daemon_rows daemon "$castor"
[ -n "$before" ] && daemon_rows before "$before"

ratio() { echo "scale=1; $1 / $2" | bc; }
echo
if [ -n "$before" ]; then
  echo "| row | local s | daemon s | daemon/local | before s | before/local | before/daemon |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
else
  echo "| row | local s | daemon s | daemon/local |"
  echo "| --- | ---: | ---: | ---: |"
fi
for row in first again random; do
  line="| $row | ${r[local,$row]} | ${r[daemon,$row]} | $(ratio "${r[daemon,$row]}" "${r[local,$row]}")"
  if [ -n "$before" ]; then
    line="$line | ${r[before,$row]} | $(ratio "${r[before,$row]}" "${r[local,$row]}") | $(ratio "${r[before,$row]}" "${r[daemon,$row]}")"
  fi
  echo "$line |"
done
