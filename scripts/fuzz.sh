#!/usr/bin/env bash
# Builds the libFuzzer targets in build-fuzz/ (clang, ASan + UBSan; with castor,
# so clang's thread-safety analysis checks every library) and runs
# each one for SECONDS (default 10) from its committed corpus fuzz/corpus/<target>.
# New interesting inputs go to build-fuzz/corpus/<target> (never into git by
# themselves); crashes are written to build-fuzz/crashes/ and fail the run.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
#        scripts/fuzz.sh --seeds      (regenerate fuzz/corpus/ seeds from our encoders and GNU tar)
# FUZZ_JOBS=N runs up to N targets at the same time (default 1; one core each).
# Each target's log (build-fuzz/<target>.log) ends with its CPU and wall time.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$root/build-fuzz
targets_all=(directory_fuzz entry_fuzz address_fuzz fuse_dispatcher_fuzz virtqueue_fuzz vhost_user_fuzz
  virtiofs_fuzz tar_import_fuzz nar_reader_fuzz narinfo_fuzz nar_import_fuzz)
export CCACHE_BASEDIR=$root CCACHE_NOHASHDIR=1
if [ ! -f "$dir/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCASTOR_FUZZ=ON -DCASTOR_BUILD_BENCH=OFF
fi
# castor and castore_testing too: with the fuzz targets they cover every
# library, built by clang with -Wthread-safety -Werror (CMakeLists.txt).
cmake --build "$dir" -j "$(( $(nproc) < 2 ? $(nproc) : 2 ))" --target castor_fuzz_all castor \
  castore_testing
if [ "${1:-}" = "--seeds" ]; then
  "$dir/fuzz/castor_fuzz_seeds" "$root/fuzz/corpus"
  "$root/fuzz/gnu_tar_seeds.sh" "$root/fuzz/corpus/tar_import_fuzz"
  exit 0
fi
seconds=${1:-10}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${targets_all[@]}")
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
mkdir -p "$dir/crashes"
jobs_max=${FUZZ_JOBS:-1}
run_target() {  # runs one target; its exit status is the run's
  local t=$1 work=$dir/corpus/$1 dict=()
  mkdir -p "$work"
  [ -f "$root/fuzz/$t.dict" ] && dict=("-dict=$root/fuzz/$t.dict")
  local TIMEFORMAT="time: cpu %U s user + %S s sys, wall %R s"
  { time (cd "$dir/crashes" && "$dir/fuzz/$t" -max_total_time="$seconds" -timeout=10 \
          -rss_limit_mb=2048 -print_final_stats=1 "${dict[@]}" \
          -artifact_prefix="$dir/crashes/$t-" "$work" "$root/fuzz/corpus/$t"); } \
    > "$dir/$t.log" 2>&1
}
report() {  # report TARGET STATUS
  if [ "$2" -ne 0 ]; then
    echo "!! $1 failed; log: $dir/$1.log" >&2
    tail -40 "$dir/$1.log" >&2
    status=1
  fi
  echo "== $1 done"
  grep -E '(stat::number_of_executed_units|DONE|^time: )' "$dir/$1.log" || true
}
status=0
declare -A target_of=()
running=0
reap_one() {  # waits for any running target and reports it
  local done_pid rc=0
  wait -n -p done_pid || rc=$?
  report "${target_of[$done_pid]}" "$rc"
  unset "target_of[$done_pid]"
  running=$((running - 1))
}
for t in "${targets[@]}"; do
  while [ "$running" -ge "$jobs_max" ]; do reap_one; done
  echo "== $t: ${seconds}s"
  run_target "$t" &
  target_of[$!]=$t
  running=$((running + 1))
done
while [ "$running" -gt 0 ]; do reap_one; done
exit $status
