#!/usr/bin/env bash
# The test command: installs what is missing, builds, runs every test.
# Usage: scripts/test.sh            (normal build in build/)
#        scripts/test.sh --asan     (ASan + UBSan build in build-asan/)
#        scripts/test.sh --tsan     (ThreadSanitizer build in build-tsan/; the concurrent
#                                    tests only: mount stress, daemon/rpc, import, conformance)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
# The tests that run threads against each other (ctest names are gtest names).
tsan_tests='MountStressTest|FaultMount|Daemon|RpcTest|Channel|Hostile|Import|Export|Conformance'
ctest_args=()
case "${1:-}" in
  --asan)
    dir=$root/build-asan
    "$root/scripts/build.sh" "$dir" -DCASTOR_SANITIZE=address,undefined -DCASTOR_BUILD_BENCH=OFF
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    ;;
  --tsan)
    dir=$root/build-tsan
    "$root/scripts/build.sh" "$dir" -DCASTOR_SANITIZE=thread -DCASTOR_BUILD_BENCH=OFF
    export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$root/scripts/tsan.supp"
    ctest_args=(-R "$tsan_tests")
    ;;
  "")
    dir=$root/build
    "$root/scripts/build.sh" "$dir"
    ;;
  *) echo "usage: $0 [--asan|--tsan]" >&2; exit 2 ;;
esac
cd "$dir"
ctest --output-on-failure -j "$(nproc)" --timeout 600 "${ctest_args[@]}"
