#!/usr/bin/env bash
# Benchmark: what verified reads by range cost through `castor mount` of a
# local store, against an older castor (BEFORE=path/to/castor, e.g. a build
# of main before verified reads: it hashed each blob whole at its first open
# in a mount and served it unchecked from disk afterwards). Not part of
# ctest. Needs root (drop_caches, mount).
#
#   BEFORE=/path/to/old/castor bench/verified_read_bench.sh [BIG_FILE_MIB] [READS]
#
# One file of BIG_FILE_MIB (default 1024) random bytes. Rows (seconds, or
# microseconds per read), each with a fresh mount:
#   first open    - open + pread of 4 KiB in the middle, nothing known yet
#                   (castor: the tree is computed, one pass; before: the blob
#                   is hashed whole); store file in the page cache
#   restart       - the same in a new mount (castor: the tree is loaded from
#                   the store; before: hashed whole again)
#   seq warm      - dd of the whole file, 1 MiB reads, store file in the
#                   page cache (the cost of checking, not of the disk), after
#                   a first read (so the old mount's whole-blob hash and the
#                   loading of the tree are not counted)
#   seq cold      - the same after drop_caches
#   random 4K     - READS (default 2000) preads of 4 KiB at random offsets
#                   with readahead off, store file in the page cache (us/read)
# The mount's own page cache is dropped before each row.
set -euo pipefail
big_mib=${1:-1024}
reads=${2:-2000}
root=$(cd "$(dirname "$0")/.." && pwd)
castor=${CASTOR:-$root/build/src/cli/castor}
before=${BEFORE:-}
work=$(mktemp -d /var/tmp/castor-verified-bench.XXXXXX)
store=$work/store
mnt=$work/mnt
mkdir -p "$mnt" "$work/bigdir"
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
# Reads the store's blob files into the page cache.
warm_store() { find "$store/blobs/b3" -type f -exec cat {} + > /dev/null; }

mount_with() {
  "$1" mount --store "$store" "$mnt" > "$work/mount.log" 2>&1 &
  mpid=$!
  wait_mount "$mnt" || { cat "$work/mount.log" >&2; exit 1; }
}
unmount() {
  kill -TERM "$mpid"
  wait "$mpid" || true
  mpid=
}

first_read() {
  python3 - "$mnt/big/big" <<'EOF'
import os, sys, time
t0 = time.monotonic()
fd = os.open(sys.argv[1], os.O_RDONLY)
size = os.fstat(fd).st_size
assert len(os.pread(fd, 4096, size // 2 + 12345)) == 4096
print(f"{time.monotonic() - t0:.4f}")
EOF
}
seq_read() {
  local t0
  t0=$(now)
  dd if="$mnt/big/big" of=/dev/null bs=1M status=none
  echo "$(now) - $t0" | bc
}
random_reads() {
  python3 - "$mnt/big/big" "$reads" <<'EOF'
import os, random, sys, time
path, n = sys.argv[1], int(sys.argv[2])
fd = os.open(path, os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
size = os.fstat(fd).st_size
os.pread(fd, 4096, 0)  # the tree, or the whole-blob hash of the old mount
rng = random.Random(1)
t0 = time.monotonic()
for _ in range(n):
    assert len(os.pread(fd, 4096, rng.randrange(0, size // 4096) * 4096)) == 4096
print(f"{(time.monotonic() - t0) / n * 1e6:.1f}")
os.close(fd)
EOF
}

# run BINARY: one column of figures
run() {
  local bin=$1 first restart warm cold random
  rm -rf "$store/blobs/outboard"
  warm_store
  mount_with "$bin"; first=$(first_read); unmount
  mount_with "$bin"; restart=$(first_read); unmount
  warm_store
  mount_with "$bin"; first_read > /dev/null; warm=$(seq_read); unmount
  mount_with "$bin"; first_read > /dev/null; drop; cold=$(seq_read); unmount
  warm_store
  mount_with "$bin"; random=$(random_reads); unmount
  echo "$first $restart $warm $cold $random"
}

echo "big file: $big_mib MiB, $reads random reads" >&2
head -c $((big_mib * 1024 * 1024)) /dev/urandom > "$work/bigdir/big"
"$castor" import --store "$store" --name big "$work/bigdir" > /dev/null

read -r n_first n_restart n_warm n_cold n_random <<< "$(run "$castor")"
if [ -n "$before" ]; then
  read -r b_first b_restart b_warm b_cold b_random <<< "$(run "$before")"
else
  b_first=- b_restart=- b_warm=- b_cold=- b_random=-
fi
mib_s() { [ "$1" = - ] && echo - || echo "scale=0; $big_mib / $1" | bc; }

echo "| row | castor | before |"
echo "| --- | ---: | ---: |"
echo "| first open, 4 KiB read (s) | $n_first | $b_first |"
echo "| restart, 4 KiB read (s) | $n_restart | $b_restart |"
echo "| sequential, store cached (MiB/s) | $(mib_s "$n_warm") | $(mib_s "$b_warm") |"
echo "| sequential, cold (MiB/s) | $(mib_s "$n_cold") | $(mib_s "$b_cold") |"
echo "| random 4 KiB read (us) | $n_random | $b_random |"
