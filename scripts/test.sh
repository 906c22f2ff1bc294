#!/usr/bin/env bash
# The test command: installs what is missing, builds, runs every test.
# Usage: scripts/test.sh            (normal build in build/)
#        scripts/test.sh --asan     (ASan + UBSan build in build-asan/)
#        scripts/test.sh --tsan     (ThreadSanitizer build in build-tsan/; the concurrent
#                                    tests only, see docs/reliability.md)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
# FUSE over io_uring is off in the fuse module by default; turn it on (as
# root, where the kernel has it) so the mount tests' uring pass runs
# (tests/mount/CMakeLists.txt) instead of skipping.
uring_param=/sys/module/fuse/parameters/enable_uring
if [ -w "$uring_param" ] && [ "$(id -u)" = 0 ]; then
  echo 1 > "$uring_param" || echo "could not enable FUSE over io_uring; its tests skip" >&2
fi
# The TSan passes run the tests whose binaries castor_test labels (TSAN plain ->
# ctest label tsan, TSAN grpc -> tsan-grpc; CMakeLists.txt), and castor_tsan_all
# builds exactly those binaries and castor, which they spawn.
# Single-threaded and too slow under TSan: the 1M-entry memory walk, the QEMU
# guest, the CLI's 100,000-file and deepest-tree round trips.
tsan_skip='MillionEntryWalk|VirtiofsGuest|HundredThousandFilesInOneDirectory|DeepestTreeRoundTrips'
ctest_args=()
reports=
case "${1:-}" in
  --asan)
    dir=$root/build-asan
    "$root/scripts/build.sh" "$dir" -DCASTOR_SANITIZE=address,undefined -DCASTOR_BUILD_BENCH=OFF
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    ;;
  --tsan)
    dir=$root/build-tsan
    CASTOR_BUILD_TARGETS=castor_tsan_all \
      "$root/scripts/build.sh" "$dir" -DCASTOR_SANITIZE=thread -DCASTOR_BUILD_BENCH=OFF
    # Every instrumented process, the castor children the tests spawn
    # included, writes its reports to $reports/report.PID and exits 66 at
    # the first one; any report file fails the run even when the test that
    # spawned the process did not look at its exit status.
    reports=$dir/tsan-reports
    rm -rf "$reports"
    mkdir -p "$reports"
    export TSAN_OPTIONS="halt_on_error=1:exitcode=66:second_deadlock_stack=1:suppressions=$root/scripts/tsan.supp:log_path=$reports/report"
    ctest_args=(-L '^tsan$' -E "$tsan_skip")
    ;;
  "")
    dir=$root/build
    "$root/scripts/build.sh" "$dir"
    ;;
  *) echo "usage: $0 [--asan|--tsan]" >&2; exit 2 ;;
esac
cd "$dir"
rc=0
ctest --output-on-failure -j "$(nproc)" --timeout 600 "${ctest_args[@]}" || rc=$?
if [ -n "$reports" ]; then
  TSAN_OPTIONS="$TSAN_OPTIONS:ignore_interceptors_accesses=1" \
    ctest --output-on-failure -j "$(nproc)" --timeout 600 -L '^tsan-grpc$' -E "$tsan_skip" || rc=$?
fi
if [ -n "$reports" ] && [ -n "$(ls -A "$reports")" ]; then
  for f in "$reports"/*; do
    echo "=== $f"
    cat "$f"
  done
  echo "ThreadSanitizer reported $(ls "$reports" | wc -l) problem(s), see above" >&2
  rc=1
fi
exit $rc
