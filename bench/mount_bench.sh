#!/usr/bin/env bash
# Read path benchmark: the same tree served by the native file system,
# squashfuse_ll, erofsfuse, the kernel's EROFS (loop device) and castor mount
# (default, and --passthrough / --transport=uring / --transport=dev when this
# castor has them), measured in one run and printed as one Markdown table
# with ratios to native. Not part of ctest. Needs root (drop_caches, mount,
# loop devices).
#
#   bench/mount_bench.sh [DIR...]
#
# DIRs (default: /usr/lib /usr/share /usr/include, about 130k entries and
# 5.7 GB here) are copied into one tree under a scratch folder in /var/tmp,
# next to a random file of BIG_MIB MiB (default 1024); every peer serves an
# image of that same tree. For a quick run: `BIG_MIB=64 bench/mount_bench.sh
# /usr/include`.
#
# Rows ("fresh" = a new mount and drop_caches; native only drops caches):
#   walk fresh / warm    find + stat of every entry (warm: best of 3)
#   read every file      every file of the tree read once (fresh)
#   sequential           the big file read with 1 MiB reads, fresh, then warm
#   random 4 KiB         RAND_READS (default 20000) reads at random aligned
#                        offsets of the big file, fresh, then the same reads
#                        warm (best of 3); reads/s
#   first byte           open + read of 1 byte of the big file, fresh
#   peak RSS             the serving process's VmHWM, the largest over all
#                        of its mounts in this run
# Besides the table: how long each image took to build, castor's first byte
# of the big file right after import (before its BLAKE3 tree is stored), and
# the FUSE requests by opcode of castor's fresh walk (castor_fuse_requests_total
# through --metrics-listen).
#
# Environment: CASTOR (binary, default build/src/cli/castor), BIG_MIB,
# RAND_READS, THREADS (castor --threads, default: cores), PEERS (space-
# separated subset of: native squashfuse erofsfuse erofs castor
# castor-passthrough castor-uring castor-dev; default all), NICE (default 10:
# the niceness everything here runs at).
set -euo pipefail
renice -n "${NICE:-10}" $$ > /dev/null
if [ $# -eq 0 ]; then set -- /usr/lib /usr/share /usr/include; fi
big_mib=${BIG_MIB:-1024}
rand_reads=${RAND_READS:-20000}
root=$(cd "$(dirname "$0")/.." && pwd)
castor=${CASTOR:-$root/build/src/cli/castor}
threads=${THREADS:-$(nproc)}
peers=${PEERS:-native squashfuse erofsfuse erofs castor castor-passthrough castor-uring castor-dev}
work=$(mktemp -d /var/tmp/castor-read-bench.XXXXXX)
mnt=$work/mnt
src=$work/src
mkdir -p "$mnt" "$src/tree" "$src/big"
pid=
uring_param=/sys/module/fuse/parameters/enable_uring
uring_restore=

cleanup() {
  set +e
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  fi
  mountpoint -q "$mnt" && umount -l "$mnt"
  [ -n "$uring_restore" ] && echo "$uring_restore" > "$uring_param"
  rm -rf "$work"
}
trap cleanup EXIT

say() { echo "$*" >&2; }
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
now() { date +%s.%N; }
elapsed() { printf '%.1f' "$(echo "$(now) - $1" | bc)"; }
# secs CMD...: wall seconds of CMD (output discarded).
secs() { local t0; t0=$(now); "$@" > /dev/null 2>&1 || true; echo "$(now) - $t0" | bc; }
# best3 CMD...: the smallest of three outputs of CMD (warm rows are short and noisy).
best3() { { "$@"; "$@"; "$@"; } | sort -g | head -1; }
wait_mount() { for _ in $(seq 1 1500); do mountpoint -q "$1" && return 0; sleep 0.02; done; return 1; }
walk() { find "$1" -printf '%s %m %i %y\n' > /dev/null; }
read_all() { (cd "$1" && find . -type f -print0 | xargs -0 -r -P 4 -n 256 cat > /dev/null); }
seq_read() { dd if="$1" of=/dev/null bs=1M status=none; }
# rand_read FILE: seconds for RAND_READS preads of 4 KiB at random 4 KiB
# aligned offsets (the same ones every time), open included.
rand_read() {
  python3 - "$1" "$rand_reads" <<'PY'
import os, random, sys, time
t0 = time.perf_counter()
fd = os.open(sys.argv[1], os.O_RDONLY)
pages = os.fstat(fd).st_size // 4096
rng = random.Random(1)
for _ in range(int(sys.argv[2])):
    os.pread(fd, 4096, rng.randrange(0, pages) * 4096)
print(f"{time.perf_counter() - t0:.6f}")
PY
}
# first_byte FILE: seconds to open FILE and read its first byte.
first_byte() {
  python3 - "$1" <<'PY'
import os, sys, time
t0 = time.perf_counter()
fd = os.open(sys.argv[1], os.O_RDONLY)
assert len(os.read(fd, 1)) == 1
print(f"{time.perf_counter() - t0:.6f}")
PY
}
hwm_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
has_castor_flag() { "$castor" mount --help 2>&1 | grep -q -- "$1"; }

# --- the tree and its images ------------------------------------------------
say "load before: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores; Linux $(uname -r)"
t0=$(now)
for d in "$@"; do cp -a "$d" "$src/tree/"; done
head -c $((big_mib * 1024 * 1024)) /dev/urandom > "$src/big/big"
say "tree: $* copied: $(find "$src/tree" | wc -l) entries, $(du -sh "$src/tree" | cut -f1) ($(elapsed "$t0") s); big file: $big_mib MiB"

declare -A built
wanted() { [[ " $peers " == *" $1 "* ]]; }
if wanted squashfuse; then
  t0=$(now)
  mksquashfs "$src" "$work/img.sqfs" -noI -noD -noF -noX -no-progress -quiet > /dev/null
  built[squashfuse]="mksquashfs (uncompressed) $(elapsed "$t0") s, $(du -h "$work/img.sqfs" | cut -f1)"
fi
if wanted erofs || wanted erofsfuse; then
  t0=$(now)
  mkfs.erofs --quiet "$work/img.erofs" "$src" > /dev/null
  built[erofs]="mkfs.erofs (uncompressed) $(elapsed "$t0") s, $(du -h "$work/img.erofs" | cut -f1)"
fi
castor_first_byte=-
if wanted castor || wanted castor-passthrough || wanted castor-uring || wanted castor-dev; then
  "$castor" --version > /dev/null
  t0=$(now)
  "$castor" import --store "$work/store" --name src "$src" > /dev/null
  built[castor]="castor import $(elapsed "$t0") s, $(du -sh "$work/store" | cut -f1)"
fi

# --- the peers ---------------------------------------------------------------
# Each peer is: a base path (where the image's top directory appears), and
# mount/unmount commands run by fresh_mount / unmount.
declare -A skip base mount_cmd
for p in $peers; do
  case $p in
    native) base[$p]=$src ;;
    squashfuse)
      if ! command -v squashfuse_ll > /dev/null; then skip[$p]="squashfuse_ll not installed"; fi
      base[$p]=$mnt mount_cmd[$p]="squashfuse_ll -f $work/img.sqfs $mnt" ;;
    erofsfuse)
      if ! command -v erofsfuse > /dev/null; then
        skip[$p]="erofsfuse not installed (Debian ships it from trixie on; bookworm's erofs-utils $(dpkg-query -W -f '${Version}' erofs-utils 2>/dev/null) has none)"
      fi
      base[$p]=$mnt mount_cmd[$p]="erofsfuse -f $work/img.erofs $mnt" ;;
    erofs)
      if ! grep -qw erofs /proc/filesystems && ! modprobe erofs 2> /dev/null; then
        skip[$p]="this kernel has no EROFS"
      fi
      base[$p]=$mnt ;;
    castor | castor-passthrough | castor-uring | castor-dev)
      extra=
      case $p in
        castor-passthrough)
          extra=--passthrough
          has_castor_flag --passthrough || skip[$p]="castor mount --help lists no --passthrough" ;;
        castor-uring | castor-dev)
          extra=--transport=${p#castor-}
          has_castor_flag --transport || skip[$p]="castor mount --help lists no --transport" ;;
      esac
      base[$p]=$mnt/src
      mount_cmd[$p]="$castor mount --store $work/store --threads $threads $extra --metrics-listen unix:$work/metrics.sock $mnt" ;;
    *) say "unknown peer $p"; exit 2 ;;
  esac
done
if wanted castor-uring && [ -z "${skip[castor-uring]:-}" ] && [ -f "$uring_param" ]; then
  cur=$(cat "$uring_param")
  if [ "$cur" != Y ] && [ "$cur" != 1 ]; then
    uring_restore=$cur
    echo 1 > "$uring_param"
    say "enabled $uring_param for this run"
  fi
fi

declare -A hwm
# fresh_mount PEER: unmounts what is mounted, mounts PEER anew, drops caches.
# Returns 1 (and records why in skip) when the mount does not come up.
fresh_mount() {
  local p=$1
  unmount "$p"
  if [ "$p" = erofs ]; then
    mount -t erofs -o loop,ro "$work/img.erofs" "$mnt"
  elif [ -n "${mount_cmd[$p]:-}" ]; then
    rm -f "$work/metrics.sock"
    # shellcheck disable=SC2086
    ${mount_cmd[$p]} > "$work/$p.log" 2>&1 &
    pid=$!
    if ! wait_mount "$mnt" || ! kill -0 "$pid" 2>/dev/null; then
      skip[$p]="mount failed: $(tail -1 "$work/$p.log")"
      unmount "$p"
      return 1
    fi
  fi
  drop
}
unmount() {
  local p=$1 h
  if [ -n "$pid" ]; then
    h=$(hwm_kib "$pid" 2>/dev/null || echo 0)
    if [ "${h:-0}" -gt "${hwm[$p]:-0}" ]; then hwm[$p]=$h; fi
    if [[ $p == castor* ]]; then kill -TERM "$pid"; else umount "$mnt"; fi
    wait "$pid" 2>/dev/null || true
    pid=
  fi
  if mountpoint -q "$mnt"; then umount "$mnt"; fi
}
# requests_by_opcode: "LOOKUP 12, READDIRPLUS 40, ..." from castor's metrics.
requests_by_opcode() {
  curl -s --unix-socket "$work/metrics.sock" http://castor/metrics |
    awk -F'[{}"= ]+' '/^castor_fuse_requests_total\{/ && $NF > 0 {printf "%s%s %d", sep, $3, $NF; sep=", "}'
}

declare -A r
castor_requests=
for p in $peers; do
  if [ -n "${skip[$p]:-}" ]; then say "skipping $p: ${skip[$p]}"; continue; fi
  say "measuring $p..."
  b=${base[$p]}
  if [ "$p" = castor ] && [ "$castor_first_byte" = - ]; then
    # The first read of the big file since import: the blob's BLAKE3 tree is
    # computed now unless import stored it.
    fresh_mount "$p" || continue
    castor_first_byte=$(first_byte "$b/big/big")
  fi
  fresh_mount "$p" || continue
  r[$p,walk_fresh]=$(secs walk "$b/tree")
  [[ $p == castor* ]] && [ -z "$castor_requests" ] && castor_requests="$p: $(requests_by_opcode)"
  r[$p,walk_warm]=$(best3 secs walk "$b/tree")
  fresh_mount "$p" || continue
  r[$p,read_all]=$(secs read_all "$b/tree")
  fresh_mount "$p" || continue
  r[$p,seq_fresh]=$(secs seq_read "$b/big/big")
  r[$p,seq_warm]=$(best3 secs seq_read "$b/big/big")
  fresh_mount "$p" || continue
  r[$p,rand_fresh]=$(echo "$rand_reads / $(rand_read "$b/big/big")" | bc)
  r[$p,rand_warm]=$(echo "$rand_reads / $(best3 rand_read "$b/big/big")" | bc)
  fresh_mount "$p" || continue
  r[$p,first_byte]=$(first_byte "$b/big/big")
  unmount "$p"
done

# --- the table ----------------------------------------------------------------
# cell PEER ROW: "value (ratio)", the ratio being how many times native's
# figure this one is, for times and for RSS; for reads/s native's over this
# one, so that above 1 means slower everywhere.
cell() {
  local v=${r[$1,$2]:-} n=${r[native,$2]:-}
  if [ -z "$v" ]; then echo -n "-"; return; fi
  case $2 in
    rand_*) printf '%d' "$v"; [ -n "$n" ] && [ "$1" != native ] && printf ' (%.2f)' "$(echo "$n / $v" | bc -l)" ;;
    first_byte) printf '%.1f ms' "$(echo "$v * 1000" | bc -l)"
      [ -n "$n" ] && [ "$1" != native ] && printf ' (%.1f)' "$(echo "$v / $n" | bc -l)" ;;
    *) printf '%.2f' "$v"; [ -n "$n" ] && [ "$1" != native ] && printf ' (%.2f)' "$(echo "$v / $n" | bc -l)" ;;
  esac
  return 0
}
shown=
for p in $peers; do [ -z "${skip[$p]:-}" ] && shown="$shown $p"; done
echo
echo "tree: $* ($(find "$src/tree" | wc -l) entries, $(du -sh "$src/tree" | cut -f1)), big file $big_mib MiB;" \
  "castor --threads $threads; load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
printf '| row |'; for p in $shown; do printf ' %s |' "$p"; done; echo
printf '| --- |'; for p in $shown; do printf ' ---: |'; done; echo
for row in walk_fresh walk_warm read_all seq_fresh seq_warm rand_fresh rand_warm first_byte; do
  case $row in
    walk_fresh) label="walk (find + stat), fresh, s" ;;
    walk_warm) label="walk, warm, s" ;;
    read_all) label="read every file, fresh, s" ;;
    seq_fresh) label="sequential ${big_mib} MiB, fresh, s" ;;
    seq_warm) label="sequential ${big_mib} MiB, warm, s" ;;
    rand_fresh) label="random 4 KiB, fresh, reads/s" ;;
    rand_warm) label="random 4 KiB, warm, reads/s" ;;
    first_byte) label="first byte of the big file, fresh" ;;
  esac
  printf '| %s |' "$label"
  for p in $shown; do printf ' %s |' "$(cell "$p" "$row")"; done
  echo
done
printf '| peak RSS of the server (VmHWM), MiB |'
for p in $shown; do
  if [ -n "${hwm[$p]:-}" ]; then printf ' %d |' $((hwm[$p] / 1024)); else printf ' - |'; fi
done
echo
echo
echo "In brackets: how many times native's figure (for reads/s: native's rate over this one), so above 1 is slower."
for p in "${!skip[@]}"; do echo "Not measured: $p: ${skip[$p]}."; done
for k in "${!built[@]}"; do echo "Built: ${built[$k]}."; done
if [ "$castor_first_byte" != - ]; then
  printf 'castor, first byte of the big file on the first read after import: %.1f ms.\n' \
    "$(echo "$castor_first_byte * 1000" | bc -l)"
fi
[ -n "$castor_requests" ] && echo "FUSE requests of castor's fresh walk ($castor_requests)."
exit 0
