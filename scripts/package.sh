#!/usr/bin/env bash
# Builds the Debian package castor_<version>_<arch>.deb from a build dir
# (default build/; configured by scripts/build.sh if it is not yet). The
# package installs under /usr: the build dir is (re)configured with that
# prefix, which the systemd units and mount helper name castor by.
# Usage: scripts/package.sh [BUILD_DIR]   (the .deb is left in BUILD_DIR)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$root/build}
export CCACHE_BASEDIR=$root
export CCACHE_NOHASHDIR=1
if [ ! -f "$dir/build.ninja" ]; then
  cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr
else
  cmake "$dir" -DCMAKE_INSTALL_PREFIX=/usr >/dev/null
fi
# Only what the package holds: castor, and the man pages and completions
# generated from it.
cmake --build "$dir" -j "$(nproc)" --target castor castor_docs
rm -f "$dir"/castor_*.deb
(cd "$dir" && cpack -G DEB)
ls "$dir"/castor_*.deb
