#!/usr/bin/env bash
# Installs the package scripts/package.sh built (BUILD_DIR/castor_*.deb) on
# this system with apt-get, checks the INSTALLED castor (--version, an import
# and ls on a temporary store, its man page and completion), then purges it
# and checks nothing is left. Fails on any step; purges even on failure.
# Needs root (or sudo) and a system without castor installed.
# Usage: scripts/package_test.sh [BUILD_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$root/build}
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
debs=("$dir"/castor_*.deb)
[ -f "${debs[0]}" ] || { echo "package_test: no $dir/castor_*.deb (run scripts/package.sh)" >&2; exit 1; }
[ ${#debs[@]} = 1 ] || { echo "package_test: more than one .deb in $dir" >&2; exit 1; }
deb=$(realpath "${debs[0]}")
if dpkg-query -W -f='${Status}' castor 2>/dev/null | grep -q "install ok installed"; then
  echo "package_test: castor is installed already; not touching it" >&2
  exit 1
fi

work=$(mktemp -d /tmp/castor-package-test-XXXXXX)
cleanup() {
  rm -rf "$work"
  if dpkg-query -W castor >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get purge -y -q castor >/dev/null || true
  fi
}
trap cleanup EXIT

step() { echo "== package_test: $*"; }

step "apt-get install $deb"
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "$deb"

castor=/usr/bin/castor
step "$castor --version"
version=$("$castor" --version)
echo "$version"
want=$(dpkg-deb -f "$deb" Version)
[[ $version == "castor $want (blake3 "*")" ]] || { echo "package_test: unexpected version" >&2; exit 1; }

step "import and ls on a temporary store"
mkdir -p "$work/tree/sub"
echo "hello from the package" > "$work/tree/sub/hello.txt"
"$castor" import --store "$work/store" "$work/tree" >/dev/null
listing=$("$castor" ls --store "$work/store" tree/sub)
echo "$listing"
[[ $listing == *hello.txt* ]] || { echo "package_test: ls does not show hello.txt" >&2; exit 1; }
[ "$("$castor" cat --store "$work/store" tree/sub/hello.txt)" = "hello from the package" ]

step "man page, completions, units and mount helper are installed"
for f in /usr/share/man/man1/castor.1 /usr/share/man/man1/castor-import.1 \
  /usr/share/bash-completion/completions/castor /usr/share/zsh/vendor-completions/_castor \
  /usr/share/fish/vendor_completions.d/castor.fish /usr/lib/systemd/system/castor-daemon.service \
  /sbin/mount.fuse.castor; do
  [ -e "$f" ] || { echo "package_test: $f missing" >&2; exit 1; }
done
man -l /usr/share/man/man1/castor-import.1 >/dev/null
bash -c 'source /usr/share/bash-completion/completions/castor
  COMP_WORDS=(castor imp); COMP_CWORD=1; _castor; [ "${COMPREPLY[*]}" = import ]'

step "apt-get purge castor"
DEBIAN_FRONTEND=noninteractive $SUDO apt-get purge -y -q castor
if [ -e "$castor" ] || dpkg-query -W -f='${Status}' castor 2>/dev/null | grep -q installed; then
  echo "package_test: castor still installed after purge" >&2
  exit 1
fi
echo "package_test: ok"
