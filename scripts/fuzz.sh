#!/usr/bin/env bash
# Builds the libFuzzer targets in build-fuzz/ (clang, ASan + UBSan) and runs
# each one for SECONDS (default 10) from its committed corpus fuzz/corpus/<target>.
# New interesting inputs go to build-fuzz/corpus/<target> (never into git by
# themselves); crashes are written to build-fuzz/crashes/ and fail the run.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
#        scripts/fuzz.sh --seeds      (regenerate fuzz/corpus/ seeds from our encoders)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$root/build-fuzz
targets_all=(directory_fuzz entry_fuzz address_fuzz fuse_dispatcher_fuzz virtqueue_fuzz vhost_user_fuzz
  virtiofs_fuzz tar_import_fuzz)
export CCACHE_BASEDIR=$root CCACHE_NOHASHDIR=1
if [ ! -f "$dir/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCASTOR_FUZZ=ON -DCASTOR_BUILD_BENCH=OFF
fi
cmake --build "$dir" -j "$(( $(nproc) < 2 ? $(nproc) : 2 ))" --target castor_fuzz_all
if [ "${1:-}" = "--seeds" ]; then
  "$dir/fuzz/castor_fuzz_seeds" "$root/fuzz/corpus"
  exit 0
fi
seconds=${1:-10}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${targets_all[@]}")
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
mkdir -p "$dir/crashes"
status=0
for t in "${targets[@]}"; do
  work=$dir/corpus/$t
  mkdir -p "$work"
  dict=()
  [ -f "$root/fuzz/$t.dict" ] && dict=("-dict=$root/fuzz/$t.dict")
  echo "== $t: ${seconds}s"
  if ! (cd "$dir/crashes" && "$dir/fuzz/$t" -max_total_time="$seconds" -timeout=10 \
          -rss_limit_mb=2048 -print_final_stats=1 "${dict[@]}" \
          -artifact_prefix="$dir/crashes/$t-" "$work" "$root/fuzz/corpus/$t" \
          > "$dir/$t.log" 2>&1); then
    echo "!! $t failed; log: $dir/$t.log" >&2
    tail -40 "$dir/$t.log" >&2
    status=1
  fi
  grep -E '(stat::number_of_executed_units|DONE)' "$dir/$t.log" || true
done
exit $status
