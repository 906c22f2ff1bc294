#!/usr/bin/env bash
# Benchmark: sequential read of one big file (dd bs=1M) from the native file
# system, a default castor mount and a `castor mount --passthrough`, cold
# (drop_caches before each run) and warm (the best of three runs right
# after). Not part of ctest. Needs root (drop_caches, mount, passthrough).
#
#   bench/passthrough_bench.sh [FILE_MIB]
#
# FILE_MIB defaults to 512 (random bytes). Every mount is fresh, so the
# first (cold) open under --passthrough includes hashing the blob file whole
# once. Prints a Markdown table: seconds and MiB/s per row, and the READ
# requests each mount answered (from its --metrics-listen endpoint).
set -euo pipefail
mib=${1:-512}
root=$(cd "$(dirname "$0")/.." && pwd)
castor=${CASTOR:-$root/build/src/cli/castor}
work=$(mktemp -d /var/tmp/castor-passthrough-bench.XXXXXX)
mnt=$work/mnt
store=$work/store
port=${METRICS_PORT:-19631}
mkdir -p "$mnt" "$work/src"
cpid=

cleanup() {
  set +e
  [ -n "$cpid" ] && kill -TERM "$cpid" 2>/dev/null && wait "$cpid" 2>/dev/null
  mountpoint -q "$mnt" && umount -l "$mnt"
  rm -rf "$work"
}
trap cleanup EXIT

drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
now() { date +%s.%N; }
secs() { local t0 t1; t0=$(now); "$@" > /dev/null 2>&1; t1=$(now); echo "$t1 - $t0" | bc; }
seq_read() { dd if="$1" of=/dev/null bs=1M status=none; }
best3() { local a b c; a=$(secs "$@"); b=$(secs "$@"); c=$(secs "$@");
  printf '%s\n%s\n%s\n' "$a" "$b" "$c" | sort -n | head -1; }
wait_mount() { for _ in $(seq 1 500); do mountpoint -q "$1" && return 0; sleep 0.02; done; return 1; }
reads() {
  curl -s "http://127.0.0.1:$port/metrics" |
    awk '/^castor_fuse_requests_total\{opcode="READ"\}/ {print $2; f=1} END {if (!f) print 0}'
}

head -c $((mib * 1024 * 1024)) /dev/urandom > "$work/src/big"
"$castor" import --store "$store" --name big "$work/src/big" > /dev/null

declare -A r
drop; r[native,cold]=$(secs seq_read "$work/src/big")
r[native,warm]=$(best3 seq_read "$work/src/big")
r[native,reads]=-

for mode in default passthrough; do
  flags=()
  [ "$mode" = passthrough ] && flags=(--passthrough)
  drop
  "$castor" mount --store "$store" --metrics-listen "127.0.0.1:$port" "${flags[@]}" "$mnt" \
    2> "$work/$mode.log" &
  cpid=$!
  wait_mount "$mnt"
  r[$mode,cold]=$(secs seq_read "$mnt/big")
  r[$mode,warm]=$(best3 seq_read "$mnt/big")
  r[$mode,reads]=$(reads)
  kill -TERM "$cpid"; wait "$cpid" || true; cpid=
done

mibs() { echo "scale=0; $mib / $1" | bc; }
echo
echo "| ${mib} MiB, dd bs=1M | cold s | cold MiB/s | warm s | warm MiB/s | READ requests |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
for mode in native default passthrough; do
  printf '| %s | %.3f | %s | %.3f | %s | %s |\n' "$mode" "${r[$mode,cold]}" \
    "$(mibs "${r[$mode,cold]}")" "${r[$mode,warm]}" "$(mibs "${r[$mode,warm]}")" "${r[$mode,reads]}"
done
