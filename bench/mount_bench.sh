#!/usr/bin/env bash
# Benchmark: castor mount vs squashfuse_ll vs the native file system, on the
# same tree, in one run. Not part of ctest. Needs root (drop_caches, mount).
#
#   bench/mount_bench.sh [SRC_TREE] [BIG_FILE_MIB]
#
# SRC_TREE defaults to /usr (a ~150k-entry tree); the big
# file (default 1024 MiB) is random bytes. Rows: metadata walk of a fresh
# mount with cold caches (find -printf, which stats every entry), the same
# walk warm, reading every file (cold), sequential read of the big file
# (cold), random 4 KiB reads of it (cold), and the daemon's RSS after the
# walks. Prints a Markdown table with ratios to native.
set -euo pipefail
src=${1:-/usr}
big_mib=${2:-1024}
root=$(cd "$(dirname "$0")/.." && pwd)
castor=${CASTOR:-$root/build/src/cli/castor}
threads=${THREADS:-$(nproc)}
work=$(mktemp -d /var/tmp/castor-bench.XXXXXX)
cmnt=$work/castor-mnt
smnt=$work/squash-mnt
smnt_big=$work/squash-big-mnt
store=$work/store
mkdir -p "$cmnt" "$smnt" "$smnt_big" "$work/bigdir"
cpid= spid= spid_big=

cleanup() {
  set +e
  [ -n "$cpid" ] && kill -TERM "$cpid" 2>/dev/null && wait "$cpid" 2>/dev/null
  for m in "$smnt" "$smnt_big" "$cmnt"; do
    mountpoint -q "$m" && umount -l "$m"
  done
  [ -n "$spid" ] && kill "$spid" 2>/dev/null
  [ -n "$spid_big" ] && kill "$spid_big" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
now() { date +%s.%N; }
# secs CMD...: wall seconds of CMD (output discarded).
secs() { local t0 t1; t0=$(now); "$@" > /dev/null 2>&1 || true; t1=$(now); echo "$t1 - $t0" | bc; }
walk() { find "$1" -printf '%s %m %i %y\n' > /dev/null; }
# best3 CMD...: the fastest of three runs (warm rows are short and noisy).
best3() { local a b c; a=$(secs "$@"); b=$(secs "$@"); c=$(secs "$@");
  printf '%s\n%s\n%s\n' "$a" "$b" "$c" | sort -n | head -1; }
read_all() { (cd "$1" && find . -type f -print0 | xargs -0 -r -P 4 -n 256 cat > /dev/null); }
seq_read() { dd if="$1" of=/dev/null bs=1M status=none; }
rand_read() {
  python3 - "$1" <<'PY'
import os, random, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
size = os.fstat(fd).st_size
rng = random.Random(1)
for _ in range(20000):
    os.pread(fd, 4096, rng.randrange(0, size // 4096) * 4096)
PY
}
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
anon_kib() { awk '/RssAnon/ {print $2}' "/proc/$1/status"; }
wait_mount() { for _ in $(seq 1 500); do mountpoint -q "$1" && return 0; sleep 0.02; done; return 1; }

echo "tree: $src ($(find "$src" -xdev | wc -l) entries), big file: $big_mib MiB, castor threads: $threads" >&2
head -c $((big_mib * 1024 * 1024)) /dev/urandom > "$work/bigdir/big"

echo "importing into castor..." >&2
t0=$(now)
"$castor" --version > /dev/null
"$castor" import --store "$store" --name tree "$src" > /dev/null
"$castor" import --store "$store" --name big "$work/bigdir/big" > /dev/null
t_import=$(echo "$(now) - $t0" | bc)
echo "building squashfs images (uncompressed, like castor's blobs)..." >&2
t0=$(now)
mksquashfs "$src" "$work/tree.sqfs" -noI -noD -noF -noX -no-progress -quiet -one-file-system > /dev/null 2>&1 ||
  mksquashfs "$src" "$work/tree.sqfs" -noI -noD -noF -noX -no-progress > /dev/null
mksquashfs "$work/bigdir" "$work/big.sqfs" -noI -noD -noF -noX -no-progress > /dev/null
t_mksquashfs=$(echo "$(now) - $t0" | bc)

mount_castor() {
  "$castor" mount --store "$store" --threads "$threads" "$cmnt" 2> "$work/castor.log" &
  cpid=$!
  wait_mount "$cmnt"
}
umount_castor() { kill -TERM "$cpid"; wait "$cpid" || true; cpid=; }
mount_squash() {
  squashfuse_ll -f "$work/tree.sqfs" "$smnt" & spid=$!
  squashfuse_ll -f "$work/big.sqfs" "$smnt_big" & spid_big=$!
  wait_mount "$smnt"; wait_mount "$smnt_big"
}
umount_squash() { umount "$smnt" "$smnt_big"; wait "$spid" "$spid_big" 2>/dev/null || true; spid= spid_big=; }

declare -A r
# native
drop; r[native,cold]=$(secs walk "$src")
r[native,warm]=$(best3 walk "$src")
drop; r[native,read]=$(secs read_all "$src")
drop; r[native,seq]=$(secs seq_read "$work/bigdir/big")
drop; r[native,rand]=$(secs rand_read "$work/bigdir/big")
r[native,rss]=-
# squashfuse_ll (fresh mount for the cold walk)
drop; mount_squash
r[squash,cold]=$(secs walk "$smnt")
r[squash,warm]=$(best3 walk "$smnt")
r[squash,rss]=$(rss_kib "$spid"); r[squash,anon]=$(anon_kib "$spid")
drop; r[squash,read]=$(secs read_all "$smnt")
drop; r[squash,seq]=$(secs seq_read "$smnt_big/big")
drop; r[squash,rand]=$(secs rand_read "$smnt_big/big")
umount_squash
# castor
drop; mount_castor
r[castor,cold]=$(secs walk "$cmnt/tree")
r[castor,warm]=$(best3 walk "$cmnt/tree")
r[castor,rss]=$(rss_kib "$cpid"); r[castor,anon]=$(anon_kib "$cpid")
drop; r[castor,read]=$(secs read_all "$cmnt/tree")
drop; r[castor,seq]=$(secs seq_read "$cmnt/big")
drop; r[castor,rand]=$(secs rand_read "$cmnt/big")
umount_castor

ratio() { if [ "$2" = "-" ] || [ "$1" = "-" ]; then echo "-"; else echo "scale=2; $1 / $2" | bc; fi; }
echo
echo "| row | native s | squashfuse_ll s | castor s | squashfuse/native | castor/native | castor/squashfuse |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for row in cold warm read seq rand; do
  case $row in
    cold) label="metadata walk, fresh mount, cold caches";;
    warm) label="metadata walk, warm";;
    read) label="read every file (cold)";;
    seq) label="sequential read ${big_mib} MiB (cold)";;
    rand) label="20000 random 4 KiB reads (cold)";;
  esac
  n=${r[native,$row]} s=${r[squash,$row]} c=${r[castor,$row]}
  printf '| %s | %.3f | %.3f | %.3f | %s | %s | %s |\n' "$label" "$n" "$s" "$c" \
    "$(ratio "$s" "$n")" "$(ratio "$c" "$n")" "$(ratio "$c" "$s")"
done
echo "| daemon RSS after the walks (MiB) | - | $((r[squash,rss] / 1024)) | $((r[castor,rss] / 1024)) | | | $(ratio "${r[castor,rss]}" "${r[squash,rss]}") |"
echo "| of which anonymous (MiB; the rest is mapped libraries and files) | - | $((r[squash,anon] / 1024)) | $((r[castor,anon] / 1024)) | | | $(ratio "${r[castor,anon]}" "${r[squash,anon]}") |"
echo
echo "castor import: ${t_import}s; mksquashfs: ${t_mksquashfs}s"
