#!/usr/bin/env bash
# Benchmark: cold start of a toolchain-like workload through `castor mount
# --cache` over a real `castor daemon` on a unix socket, without and with
# `--prefetch`. Not part of ctest. Needs root (mount) and python3.
#
#   bench/prefetch_bench.sh [RUNS]
#
# The tree "t": /usr/include/c++/<newest> and gcc's cc1plus (about 800 files,
# 48 MB here). The workload: `find t -type f | sort | xargs cat`, i.e. every
# directory listed and every file read whole, in a fixed order. A first
# mount records it (--record-access); then, each run with a fresh, empty
# cache (the daemon and its store warm), seconds from starting `castor mount`
# to the end of the workload:
#   none       - no prefetch
#   at once    - --prefetch started with the mount, the workload at once
#   after done - --prefetch, the workload started after "prefetch done"
#                (the time until then is included; "prefetch" shows it alone)
# each directly on the daemon's socket and through bench/latency_proxy.py
# adding 1 ms each way to every piece of data (>= 2 ms per call). The median
# of RUNS (default 3). RENICE=1 puts the prefetch threads back at nice 0
# (what the lowest priority costs on a busy machine). With STRACE=1 also how many syncfs/fsync/msync calls
# one prefetching mount makes and the time they take (strace -f -c).
set -euo pipefail
runs=${1:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
castor=${CASTOR:-$root/build/src/cli/castor}
work=$(mktemp -d /var/tmp/castor-prefetch-bench.XXXXXX)
store=$work/store
sock=$work/castor.sock
slow=$work/slow.sock
mnt=$work/mnt
record=$work/record
mkdir -p "$mnt" "$work/t"
# shellcheck source=bench/daemon_lib.sh
. "$root/bench/daemon_lib.sh"
ppid_=
cleanup_more() { [ -n "$ppid_" ] && kill "$ppid_" 2>/dev/null; wait "$ppid_" 2>/dev/null; true; }

gcc_dir=$(dirname "$(gcc -print-prog-name=cc1plus)")
inc=$(find /usr/include/c++ -mindepth 1 -maxdepth 1 -type d | sort -V | tail -1)
cp -r "$inc" "$work/t/include"
cp "$gcc_dir/cc1plus" "$work/t/"
files=$(find "$work/t" -type f | wc -l)
bytes=$(du -sb "$work/t" | cut -f1)
"$castor" import --store "$store" --name t "$work/t" > /dev/null
rm -rf "$work/t"

"$castor" daemon --store "$store" --listen "unix://$sock" > /dev/null 2>> "$work/daemon.log" &
dpid=$!
wait_sock "$sock"
python3 "$root/bench/latency_proxy.py" "$slow" "$sock" 1 &
ppid_=$!
wait_sock "$slow"

secs() { echo "scale=2; ($2 - $1) / 1" | bc; }
workload() { find "$mnt/t" -type f | sort | xargs cat > /dev/null; }
mount_with() {  # mount_with SOCKET LOG EXTRA...
  local s=$1 log=$2
  shift 2
  local a=grpc+unix://$s
  "$castor" mount "$mnt" --cache "$work/cache" --blob-service-addr "$a" \
    --directory-service-addr "$a" --root-service-addr "$a" "$@" > "$log" 2>&1 &
  mpid=$!
}
unmount() { kill -TERM "$mpid"; wait "$mpid" || true; mpid=; }
wait_log() { for _ in $(seq 1 30000); do grep -q "$2" "$1" && return 0; sleep 0.01; done; return 1; }

# The record.
rm -rf "$work/cache"
mount_with "$sock" "$work/record.log" --record-access "$record"
wait_mount "$mnt"
workload
unmount
echo "record: $(($(wc -l < "$record") - 1)) entries for $files files, $bytes bytes" >&2

declare -A r
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
run() {  # run MODE SOCKET: one cold start; prints seconds (and prefetch seconds)
  local mode=$1 s=$2 t0 t1 tp log=$work/run.log
  rm -rf "$work/cache"
  t0=$(now)
  case $mode in
    none) mount_with "$s" "$log" ;;
    *) mount_with "$s" "$log" --prefetch "$record" ;;
  esac
  wait_mount "$mnt"
  if [ -n "${RENICE:-}" ] && [ "$mode" != none ]; then
    # Diagnostic: the prefetch threads back at nice 0 (they set 19 when they start).
    (for _ in $(seq 1 600); do
       grep -q "prefetch done" "$log" && break
       for t in /proc/"$mpid"/task/*; do renice -n 0 -p "${t##*/}" > /dev/null 2>&1; done
       sleep 0.05
     done) &
  fi
  if [ "$mode" = after ]; then wait_log "$log" "prefetch done"; fi
  tp=$(now)
  workload
  t1=$(now)
  if [ "$mode" = at-once ]; then wait_log "$log" "prefetch done" || true; fi
  unmount
  grep -h "prefetch done" "$log" >&2 || true
  echo "$(secs "$t0" "$t1") $(secs "$t0" "$tp")"
}
for lat in 0 1; do
  s=$sock; [ "$lat" = 1 ] && s=$slow
  for mode in none at-once after; do
    totals=() pre=()
    for ((i = 0; i < runs; i++)); do
      read -r total p < <(run "$mode" "$s")
      totals+=("$total") pre+=("$p")
    done
    r[$lat,$mode]=$(median "${totals[@]}")
    r[$lat,$mode,pre]=$(median "${pre[@]}")
    echo "latency $lat ms, $mode: ${totals[*]} s (until the workload started: ${pre[*]} s)" >&2
  done
done

if [ -n "${STRACE:-}" ] && command -v strace > /dev/null; then
  rm -rf "$work/cache"
  a=grpc+unix://$sock
  strace -f -c -e trace=syncfs,fsync,fdatasync,msync,sync_file_range -o "$work/strace" \
    "$castor" mount "$mnt" --cache "$work/cache" --blob-service-addr "$a" \
    --directory-service-addr "$a" --root-service-addr "$a" --prefetch "$record" \
    > "$work/strace.log" 2>&1 &
  mpid=$!
  wait_mount "$mnt"
  wait_log "$work/strace.log" "prefetch done"
  # strace holds SIGTERM back while it traces: end castor, strace follows.
  kill -TERM "$(pgrep -P "$mpid" -x castor)"
  wait "$mpid" || true
  mpid=
  echo "syncs during one prefetching mount (strace -f -c):" >&2
  cat "$work/strace" >&2
fi

echo
echo "$files files, $bytes bytes; seconds from mount start to workload end, median of $runs"
echo "| latency | no prefetch | prefetch at once | workload after prefetch done (prefetch alone) |"
echo "| --- | ---: | ---: | ---: |"
for lat in 0 1; do
  name="none"; [ "$lat" = 1 ] && name="+1 ms each way"
  echo "| $name | ${r[$lat,none]} | ${r[$lat,at-once]} | ${r[$lat,after]} (${r[$lat,after,pre]}) |"
done
