#!/usr/bin/env bash
# Benchmark: `castor import` of one big random file into a fresh file://
# store, and the first byte of that file through a fresh `castor mount` of
# the store right after, against an older castor (BEFORE=path/to/castor).
# Not part of ctest. Needs root (drop_caches, mount).
#
#   BEFORE=/path/to/old/castor bench/first_byte_bench.sh [BIG_FILE_MIB] [RUNS]
#
# One file of BIG_FILE_MIB (default 1024) random bytes; RUNS (default 3)
# rounds, each running every binary once (alternating, so a busy machine
# hurts both alike). Per binary and round:
#   import warm   - MB/s of `castor import` (the whole command, final syncfs
#                   included) with the source file in the page cache
#   import cold   - the same after drop_caches
#   first byte    - seconds for `head -c1` of the file on a new mount of the
#                   store the import made, after drop_caches (what a
#                   freshly booted machine sees; castor before this change
#                   computed the file's tree there, one pass over the blob)
set -euo pipefail
big_mib=${1:-1024}
runs=${2:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
castor=${CASTOR:-$root/build/src/cli/castor}
before=${BEFORE:-}
work=$(mktemp -d /var/tmp/castor-first-byte-bench.XXXXXX)
mnt=$work/mnt
mkdir -p "$mnt" "$work/src"
mpid=

cleanup() {
  set +e
  [ -n "$mpid" ] && kill -TERM "$mpid" 2>/dev/null && wait "$mpid" 2>/dev/null
  mountpoint -q "$mnt" && umount -l "$mnt"
  rm -rf "$work"
}
trap cleanup EXIT

drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
wait_mount() { for _ in $(seq 1 1500); do mountpoint -q "$1" && return 0; sleep 0.02; done; return 1; }
now() { date +%s.%N; }
mb_s() { echo "scale=0; $big_mib * 1048576 / 1000000 / ($2 - $1)" | bc; }

# timed_import BINARY STORE: MB/s
timed_import() {
  local t0
  t0=$(now)
  "$1" import --store "$2" --name big "$work/src" > /dev/null
  mb_s "$t0" "$(now)"
}

# first_byte BINARY STORE: seconds to the first byte on a new mount
first_byte() {
  local t0 t
  "$1" mount --store "$2" "$mnt" > "$work/mount.log" 2>&1 &
  mpid=$!
  wait_mount "$mnt" || { cat "$work/mount.log" >&2; exit 1; }
  drop
  t0=$(now)
  head -c1 "$mnt/big/big" > /dev/null
  t=$(echo "$(now) - $t0" | bc)
  kill -TERM "$mpid"
  wait "$mpid" || true
  mpid=
  printf '%.3f\n' "$t"
}

# round BINARY: "warm cold first" for one binary
round() {
  local warm cold first
  rm -rf "$work/store"
  cat "$work/src/big" > /dev/null
  warm=$(timed_import "$1" "$work/store")
  rm -rf "$work/store"
  drop
  cold=$(timed_import "$1" "$work/store")
  first=$(first_byte "$1" "$work/store")
  rm -rf "$work/store"
  echo "$warm $cold $first"
}

echo "big file: $big_mib MiB, $runs runs" >&2
head -c $((big_mib * 1024 * 1024)) /dev/urandom > "$work/src/big"

new_rows=() old_rows=()
for _ in $(seq 1 "$runs"); do
  new_rows+=("$(round "$castor")")
  [ -n "$before" ] && old_rows+=("$(round "$before")")
done

column() { # column N ROWS...: the Nth figure of each row, comma-separated
  local n=$1
  shift
  local out=
  for r in "$@"; do out="$out${out:+, }$(echo "$r" | cut -d' ' -f"$n")"; done
  echo "${out:--}"
}
echo "| row | castor | before |"
echo "| --- | ---: | ---: |"
echo "| import, source cached (MB/s) | $(column 1 "${new_rows[@]}") | $(column 1 "${old_rows[@]+"${old_rows[@]}"}") |"
echo "| import, cold (MB/s) | $(column 2 "${new_rows[@]}") | $(column 2 "${old_rows[@]+"${old_rows[@]}"}") |"
echo "| first byte on a new mount, cold (s) | $(column 3 "${new_rows[@]}") | $(column 3 "${old_rows[@]+"${old_rows[@]}"}") |"
