#!/usr/bin/env bash
# Writes the gnu_sparse_* seeds of tar_import_fuzz: sparse files archived by
# GNU tar in each of its sparse formats (old GNU, pax 0.0, 0.1, 1.0), which
# libarchive's writer cannot produce. Fixed contents, owner, times and
# header names (only pax 0.x names carry tar's pid). Usage: fuzz/gnu_tar_seeds.sh OUT_DIR
set -euo pipefail
out=$1
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
# Holes need 4 KiB alignment to survive on most filesystems.
truncate -s 20000 "$src/mid"    # data, hole, data, hole to the end
printf 'first block' | dd of="$src/mid" conv=notrunc status=none
printf 'second block' | dd of="$src/mid" bs=4096 seek=3 conv=notrunc status=none
truncate -s 9000 "$src/start"   # a hole, then data to the end
printf 'tail' | dd of="$src/start" bs=4096 seek=2 conv=notrunc status=none
truncate -s 8192 "$src/none"    # all hole
common=(--sparse --owner=0 --group=0 --numeric-owner --mtime=@0 --sort=name -C "$src")
pax=(--format=pax --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime)
tar "${common[@]}" --format=gnu -cf "$out/gnu_sparse_old" mid start none
for v in 0.0 0.1 1.0; do
  tar "${common[@]}" "${pax[@]}" --sparse-version="$v" -cf "$out/gnu_sparse_pax${v/./_}" \
    mid start none
done
