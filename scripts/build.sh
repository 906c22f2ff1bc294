#!/usr/bin/env bash
# Configures (once) and builds castor. Usage: scripts/build.sh [BUILD_DIR] [extra cmake args...]
# BUILD_DIR defaults to build/. ccache is used when present. CASTOR_BUILD_TARGETS
# (space-separated ninja targets) builds only those instead of everything.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$root/build}
shift || true
export CCACHE_BASEDIR=$root
export CCACHE_NOHASHDIR=1
if [ ! -f "$dir/build.ninja" ]; then
  cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
fi
# shellcheck disable=SC2086
cmake --build "$dir" -j "$(nproc)" ${CASTOR_BUILD_TARGETS:+--target $CASTOR_BUILD_TARGETS}
