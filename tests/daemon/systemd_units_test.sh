#!/usr/bin/env bash
# `systemd-analyze verify` finds nothing to say about the units in
# packaging/systemd (the build tree's copies, which name the built castor),
# the mount template included, for an instance.
# Usage: systemd_units_test.sh UNIT_DIR
set -euo pipefail
dir=$1
if ! command -v systemd-analyze >/dev/null; then
  echo "systemd-analyze missing (scripts/setup.sh installs systemd)" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$dir"/castor-daemon.service "$dir"/castor-daemon.socket "$dir"/castor-mount@.service "$work"/
# A template is verified through an instance: /mnt/castor.
cp "$work"/castor-mount@.service "$work"/castor-mount@mnt-castor.service
rc=0
# verify exits 0 on some warnings: any output is a failure too.
out=$(cd "$work" && SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no \
  "$work"/castor-daemon.socket "$work"/castor-daemon.service \
  "$work"/castor-mount@mnt-castor.service 2>&1) || rc=$?
if [ $rc -ne 0 ] || [ -n "$out" ]; then
  echo "systemd-analyze verify (exit $rc):" >&2
  echo "$out" >&2
  exit 1
fi
echo "units verified"
