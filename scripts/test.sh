#!/usr/bin/env bash
# The test command: installs what is missing, builds, runs every test.
# Usage: scripts/test.sh            (normal build in build/)
#        scripts/test.sh --asan     (ASan + UBSan build in build-asan/)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
case "${1:-}" in
  --asan)
    dir=$root/build-asan
    "$root/scripts/build.sh" "$dir" -DCASTOR_SANITIZE=address,undefined -DCASTOR_BUILD_BENCH=OFF
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    ;;
  "")
    dir=$root/build
    "$root/scripts/build.sh" "$dir"
    ;;
  *) echo "usage: $0 [--asan]" >&2; exit 2 ;;
esac
cd "$dir"
ctest --output-on-failure -j "$(nproc)" --timeout 600
