#!/usr/bin/env bash
# Installs every Debian package castor's build, tests and benchmarks need.
# Safe to run again. Needs root (or sudo).
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
PKGS=(
  # build
  cmake ninja-build ccache g++ pkg-config git
  libabsl-dev protobuf-compiler libprotobuf-dev protobuf-compiler-grpc libgrpc++-dev
  liblmdb-dev libarchive-dev libzstd-dev libcli11-dev libspdlog-dev nlohmann-json3-dev
  librust-blake3-dev libssl-dev libcurl4-openssl-dev liblzma-dev libbz2-dev
  libcpp-httplib-dev  # castor nix serve (HTTP binary cache server)
  liburing-dev  # FUSE over io_uring (castor mount --transport)
  # Nix formats: golden tests run the real nix-store (single-user, as root)
  nix-bin
  # tests
  libgtest-dev libgmock-dev fuse3 attr python3 xz-utils bzip2 zstd
  tar libarchive-tools  # GNU tar and bsdtar write the sparse archives of the tar import tests
  openssl  # the TLS daemon test makes its certificates
  prometheus  # promtool check metrics: the --metrics-listen scrape test (tests/metrics)
  systemd  # systemd-analyze verify (the units) and systemd-socket-activate (docs/operations.md)
  # S3 tests: a throw-away Ceph cluster with radosgw (scripts/ceph-rgw.sh); curl
  # and s3cmd to cross-check by hand
  ceph-mon ceph-osd radosgw ceph-common uuid-runtime iproute2 curl s3cmd
  # fuzzing (scripts/fuzz.sh: clang + libFuzzer)
  clang libclang-rt-14-dev
  # the Debian package (scripts/package.sh: cpack's dpkg-shlibdeps) and its
  # test (man -l); src/cli/docs_test renders the generated man pages with groff
  # and checks the generated zsh and fish completions
  dpkg-dev man-db groff-base zsh fish
  # format and static checks (scripts/check_format.sh)
  clang-format clang-tidy
  # virtio-fs guest tests
  qemu-system-x86 qemu-system-common busybox-static linux-image-amd64 cpio liblzma-dev
  # benchmarks and peers
  libbenchmark-dev b3sum squashfuse squashfs-tools erofs-utils restic borgbackup hyperfine
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: all packages present"
fi
