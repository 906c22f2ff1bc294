#!/usr/bin/env bash
# Benchmark: castor mount served through /dev/fuse read/write vs FUSE over
# io_uring (castor mount --transport dev|uring), on the same store. Not part
# of ctest. Needs root (drop_caches, mount, the fuse module's enable_uring).
#
#   bench/transport_bench.sh [ENTRIES] [BIG_FILE_MIB]
#
# Builds a tree of ENTRIES (default 100,000) entries: directories of 100
# small files each, plus one random file of BIG_FILE_MIB (default 512) MiB,
# imports both into a local store, and for each transport, each row on a
# fresh mount: `find | wc -l` (readdir and look-ups), stat(2) of every file
# (find -printf, which also stats every entry), and a sequential read of
# the big file with the store's files cold (drop_caches before mounting) and
# warm (in the page cache; the mount is fresh, so every byte still goes
# through castor). Each row is the best of RUNS (default 3) runs. Prints a
# Markdown table.
set -euo pipefail
entries=${1:-100000}
big_mib=${2:-512}
runs=${RUNS:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
castor=${CASTOR:-$root/build/src/cli/castor}
param=/sys/module/fuse/parameters/enable_uring
work=$(mktemp -d /var/tmp/castor-transport-bench.XXXXXX)
mnt=$work/mnt
store=$work/store
mkdir -p "$mnt" "$work/tree" "$work/bigdir"
cpid=

cleanup() {
  set +e
  [ -n "$cpid" ] && kill -TERM "$cpid" 2>/dev/null && wait "$cpid" 2>/dev/null
  mountpoint -q "$mnt" && umount -l "$mnt"
  rm -rf "$work"
}
trap cleanup EXIT

if [ ! -e "$param" ]; then
  echo "this kernel has no FUSE over io_uring ($param missing)" >&2
  exit 1
fi
echo 1 > "$param"

drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
now() { date +%s.%N; }
secs() { local t0 t1; t0=$(now); "$@" > /dev/null 2>&1 || true; t1=$(now); echo "$t1 - $t0" | bc; }
wait_mount() { for _ in $(seq 1 500); do mountpoint -q "$1" && return 0; sleep 0.02; done; return 1; }

echo "building a tree of $entries entries and a $big_mib MiB file..." >&2
python3 - "$work/tree" "$entries" <<'PY'
import os, sys
top, n = sys.argv[1], int(sys.argv[2])
made, d = 0, 0
while made < n:
    path = os.path.join(top, "d%05d" % d)
    os.mkdir(path)
    made += 1
    for f in range(min(99, n - made)):
        with open(os.path.join(path, "f%03d" % f), "w") as out:
            out.write("file %d of directory %d\n" % (f, d))
        made += 1
    d += 1
PY
head -c $((big_mib * 1024 * 1024)) /dev/urandom > "$work/bigdir/big"
"$castor" import --store "$store" --name tree "$work/tree" > /dev/null
"$castor" import --store "$store" --name big "$work/bigdir/big" > /dev/null
rm -rf "$work/tree" "$work/bigdir"

mount_castor() {
  "$castor" mount --store "$store" --transport "$1" "$mnt" > "$work/castor-$1.log" 2>&1 &
  cpid=$!
  wait_mount "$mnt"
}
umount_castor() { kill -TERM "$cpid"; wait "$cpid" || true; cpid=; }
count() { find "$mnt/tree" | wc -l; }
stat_all() { find "$mnt/tree" -printf '%s %m %i %y\n' > /dev/null; }
seq_read() { dd if="$mnt/big" of=/dev/null bs=1M status=none; }

# best TRANSPORT COLD CMD: the fastest of $runs runs of CMD, each on a
# fresh mount (COLD=1: with the page cache dropped first).
best() {
  local t=$1 cold=$2 b= s
  shift 2
  for _ in $(seq 1 "$runs"); do
    [ "$cold" = 1 ] && drop
    mount_castor "$t"
    s=$(secs "$@")
    umount_castor
    if [ -z "$b" ] || [ "$(echo "$s < $b" | bc)" = 1 ]; then b=$s; fi
  done
  echo "$b"
}

declare -A r
for t in dev uring; do
  mount_castor "$t"
  want=$([ "$t" = uring ] && echo 'FUSE over io_uring' || echo '/dev/fuse read/write')
  # The log line follows the mount by a moment.
  for _ in $(seq 1 100); do grep -q "$want" "$work/castor-$t.log" && break; sleep 0.05; done
  if ! grep -q "$want" "$work/castor-$t.log"; then
    echo "castor did not serve through $t:" >&2
    cat "$work/castor-$t.log" >&2
    exit 1
  fi
  r[$t,n]=$(count)
  umount_castor
  r[$t,find]=$(best "$t" 0 count)
  r[$t,stat]=$(best "$t" 0 stat_all)
  r[$t,seqcold]=$(best "$t" 1 seq_read)
  r[$t,seqwarm]=$(best "$t" 0 seq_read)
done

ratio() { echo "scale=2; $1 / $2" | bc; }
echo
echo "entries listed: dev ${r[dev,n]}, uring ${r[uring,n]}; $(nproc) CPUs; best of $runs"
echo
echo "| row | dev s | uring s | uring/dev |"
echo "| --- | ---: | ---: | ---: |"
for row in find stat seqcold seqwarm; do
  case $row in
    find) label="find \| wc -l, $entries entries, fresh mount";;
    stat) label="stat of every entry (find -printf), fresh mount";;
    seqcold) label="sequential read $big_mib MiB, store cold, fresh mount";;
    seqwarm) label="sequential read $big_mib MiB, store warm, fresh mount";;
  esac
  printf '| %s | %.3f | %.3f | %s |\n' "$label" "${r[dev,$row]}" "${r[uring,$row]}" \
    "$(ratio "${r[uring,$row]}" "${r[dev,$row]}")"
done
