#!/usr/bin/env bash
# Benchmark: castor on S3 (a throw-away single-node Ceph RGW on 127.0.0.1,
# scripts/ceph-rgw.sh) against the local store. Not part of ctest. Needs
# root (mounts, drop_caches).
#
#   bench/s3_store_bench.sh [CORPUS] [BIG_MIB]
#
# CORPUS defaults to /usr/include. Rows:
# - import of CORPUS into s3:// vs the local store (file:// + lmdb://), and
#   `s3cmd sync` of the same tree into a bucket when s3cmd is installed;
# - cold read of every file of a mount through `castor daemon` over s3://,
#   first with an empty --cache, then again (new mount) with the warm cache;
# - sub-file dedup: a random BIG_MIB (default 1024) MiB file imported, then a
#   version of it with one MiB in the middle replaced: the extra bytes the
#   bucket holds after the second import.
set -euo pipefail
corpus=${1:-/usr/include}
big_mib=${2:-1024}
root=$(cd "$(dirname "$0")/.." && pwd)
castor=${CASTOR:-$root/build/src/cli/castor}
work=$(mktemp -d /var/tmp/castor-s3-bench.XXXXXX)
ceph=$work/ceph
mnt=$work/mnt
# shellcheck source=bench/daemon_lib.sh
. "$root/bench/daemon_lib.sh"
cleanup_more() { "$root/scripts/ceph-rgw.sh" stop "$ceph" >/dev/null 2>&1; }

secs() { echo "$2 - $1" | bc; }

"$root/scripts/ceph-rgw.sh" start "$ceph" >/dev/null
set -a; . "$ceph/s3.env"; set +a
aws() { command aws --endpoint-url "$S3_ENDPOINT" "$@"; }
bucket_bytes() {  # total size of the objects in bucket $1
  aws s3 ls --recursive --summarize "s3://$1" | awk '/Total Size/ {print $3}'
}
store_flags() {
  echo --blob-service-addr "$1" --directory-service-addr "$2" --root-service-addr "$3"
}
s3addr() { echo "s3://$1?endpoint=$S3_ENDPOINT&region=default"; }

corpus_bytes=$(du -sb "$corpus" | cut -f1)
files=$(find "$corpus" -type f | wc -l)
echo "corpus: $corpus, $files files, $((corpus_bytes >> 20)) MiB"
echo
echo "| what | seconds | MiB/s | stored MiB |"
echo "| --- | --- | --- | --- |"

# Import: S3 vs local.
aws s3 mb s3://corpus >/dev/null
S3=$(s3addr corpus)
drop
t0=$(now)
"$castor" import $(store_flags "$S3" "$S3" "$S3") --name corpus "$corpus" >/dev/null
t1=$(now)
s=$(secs "$t0" "$t1")
echo "| castor import -> s3:// | $s | $(echo "$corpus_bytes / 1048576 / $s" | bc) | $(( $(bucket_bytes corpus) >> 20 )) |"

drop
t0=$(now)
"$castor" import --store "$work/local" --name corpus "$corpus" >/dev/null
t1=$(now)
s=$(secs "$t0" "$t1")
echo "| castor import -> local store | $s | $(echo "$corpus_bytes / 1048576 / $s" | bc) | $(( $(du -sb "$work/local" | cut -f1) >> 20 )) |"

if command -v s3cmd >/dev/null; then
  cat > "$work/s3cfg" <<CFG
[default]
access_key = $AWS_ACCESS_KEY_ID
secret_key = $AWS_SECRET_ACCESS_KEY
host_base = ${S3_ENDPOINT#http://}
host_bucket = ${S3_ENDPOINT#http://}
use_https = False
CFG
  s3cmd -c "$work/s3cfg" mb s3://plain >/dev/null
  drop
  t0=$(now)
  s3cmd -c "$work/s3cfg" sync --no-preserve --quiet "$corpus/" s3://plain/ >/dev/null 2>&1
  t1=$(now)
  s=$(secs "$t0" "$t1")
  echo "| s3cmd sync -> bucket | $s | $(echo "$corpus_bytes / 1048576 / $s" | bc) | $(( $(bucket_bytes plain) >> 20 )) |"
fi

# Read everything through a daemon over S3: empty cache, then warm cache.
mkdir -p "$mnt"
"$castor" daemon --listen "unix://$work/d.sock" $(store_flags "$S3" "$S3" "$S3") \
  >"$work/daemon.log" 2>&1 &
dpid=$!
wait_sock "$work/d.sock"
D="grpc+unix://$work/d.sock"
for cache in empty warm; do
  "$castor" mount $(store_flags "$D" "$D" "$D") --cache "$work/cache" "$mnt" \
    >"$work/mount.log" 2>&1 &
  mpid=$!
  wait_mount "$mnt"
  drop
  t0=$(now)
  tar -C "$mnt/corpus" -cf - . | cat >/dev/null
  t1=$(now)
  s=$(secs "$t0" "$t1")
  echo "| mount via daemon over s3://, read all, $cache cache | $s | $(echo "$corpus_bytes / 1048576 / $s" | bc) | |"
  kill -TERM "$mpid"; wait "$mpid" || true; mpid=
done

# Sub-file dedup.
aws s3 mb s3://dedup >/dev/null
S3=$(s3addr dedup)
mkdir -p "$work/v1" "$work/v2"
head -c $((big_mib << 20)) /dev/urandom > "$work/v1/big"
cp "$work/v1/big" "$work/v2/big"
head -c $((1 << 20)) /dev/urandom |
  dd of="$work/v2/big" bs=1M seek=$((big_mib / 2)) conv=notrunc status=none
"$castor" import $(store_flags "$S3" "$S3" "$S3") --name v1 "$work/v1" >/dev/null
before=$(bucket_bytes dedup)
"$castor" import $(store_flags "$S3" "$S3" "$S3") --name v2 "$work/v2" >/dev/null
after=$(bucket_bytes dedup)
echo
echo "dedup: v1 of $big_mib MiB stored as $before bytes; v2 (1 MiB changed) added $((after - before)) bytes"
