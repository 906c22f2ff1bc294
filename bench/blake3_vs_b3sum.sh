#!/usr/bin/env bash
# BLAKE3 throughput of castor's hasher vs `b3sum --num-threads 1` on the same
# 1 GiB of random bytes in /dev/shm (so no disk is involved). Prints GB/s of
# both and castor/b3sum. Usage: bench/blake3_vs_b3sum.sh [BUILD_DIR] (default build/).
# Both sides are run ROUNDS times (default 3) interleaved; the best of each
# counts (the least disturbed by other load on the machine).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
rounds=${ROUNDS:-3}
command -v b3sum >/dev/null || { echo "b3sum missing (apt-get install b3sum)" >&2; exit 1; }
cmake --build "$build" --target blake3_bench >/dev/null
bench=$build/bench/blake3_bench

data=$(mktemp /dev/shm/castor-b3-XXXXXX)
trap 'rm -f "$data"' EXIT
head -c $((1 << 30)) /dev/urandom >"$data"
bytes=$(stat -c %s "$data")

best_b3sum=0 best_castor=0
for ((i = 0; i < rounds; i++)); do
  start=$(date +%s%N)
  b3sum_digest=$(b3sum --num-threads 1 --no-names "$data")
  end=$(date +%s%N)
  gbs=$(python3 -c "print($bytes / (($end - $start) / 1e9) / 1e9)")
  best_b3sum=$(python3 -c "print(max($best_b3sum, $gbs))")

  json=$(CASTOR_BENCH_FILE=$data "$bench" --benchmark_filter='BM_Blake3/0$' \
           --benchmark_format=json --benchmark_min_time=1 2>/dev/null)
  read -r gbs castor_digest < <(python3 -c '
import json, sys
b = json.loads(sys.stdin.read())["benchmarks"][0]
print(b["bytes_per_second"] / 1e9, b["label"])' <<<"$json")
  best_castor=$(python3 -c "print(max($best_castor, $gbs))")
  if [[ "$castor_digest" != "$b3sum_digest" ]]; then
    echo "digest mismatch: castor $castor_digest, b3sum $b3sum_digest" >&2
    exit 1
  fi
done

python3 - "$best_castor" "$best_b3sum" <<'PY'
import sys
castor, b3sum = float(sys.argv[1]), float(sys.argv[2])
print(f"castor Blake3Hasher (1 update): {castor:.2f} GB/s")
print(f"b3sum --num-threads 1:          {b3sum:.2f} GB/s")
print(f"castor / b3sum:                 {castor / b3sum:.3f}")
PY
