#!/usr/bin/env bash
# FastCDC (snix parameters) throughput next to BLAKE3 on the same 1 GiB of
# random bytes in /dev/shm, all in CPU time (robust on a loaded machine):
# castor's chunker (boundaries only, and buffered chunks), castor's BLAKE3,
# and `b3sum --num-threads 1` (user time, i.e. pure hashing). A blob writer chunks and hashes every byte, so the chunker should
# not be the slower of the two.
# Usage: bench/fastcdc_vs_b3sum.sh [BUILD_DIR] (default build/); ROUNDS (3):
# the best round counts.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
rounds=${ROUNDS:-3}
command -v b3sum >/dev/null || { echo "b3sum missing (apt-get install b3sum)" >&2; exit 1; }
cmake --build "$build" --target fastcdc_bench >/dev/null
data=$(mktemp /dev/shm/castor-cdc-XXXXXX)
work=$(mktemp -d)
trap 'rm -rf "$data" "$work"' EXIT
head -c $((1 << 30)) /dev/urandom >"$data"
for ((i = 0; i < rounds; i++)); do
  /usr/bin/time -f "%U" -o "$work/b3sum.$i" b3sum --num-threads 1 --no-names "$data" >/dev/null
  CASTOR_BENCH_FILE=$data "$build/bench/fastcdc_bench" --benchmark_min_time=1 \
    --benchmark_format=json --benchmark_out="$work/cdc.$i.json" >/dev/null 2>&1
done
python3 - "$work" "$rounds" "$(stat -c %s "$data")" <<'PY'
import json, sys
work, rounds, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
best = {}
for i in range(rounds):
    best["b3sum (user time)"] = max(best.get("b3sum (user time)", 0),
                                    size / 1e9 / max(float(open(f"{work}/b3sum.{i}").read()), 1e-3))
    for b in json.load(open(f"{work}/cdc.{i}.json"))["benchmarks"]:
        name = b["name"].split("/")[0]
        scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b["time_unit"]]
        best[name] = max(best.get(name, 0), size / 1e9 / (b["cpu_time"] * scale))
        if "chunks" in b:
            best[name + " chunks"] = b["chunks"]
for name in ["BM_FastCdcBoundaries", "BM_FastCdcChunker", "BM_Blake3", "b3sum (user time)"]:
    extra = f"   ({best[name + ' chunks']:.0f} chunks)" if name + " chunks" in best else ""
    print(f"{name:<24} {best[name]:5.2f} GB/s of CPU time{extra}")
print(f"FastCDC / b3sum: {best['BM_FastCdcBoundaries'] / best['b3sum (user time)']:.2f}x")
PY
