#!/usr/bin/env bash
# Import benchmark: `castor import` of a copy of /usr/lib /usr/share
# /usr/include plus a 1 GiB random file, against reading+hashing the same
# bytes (cat | b3sum, and b3sum per file) and against restic backup, borg
# create and mksquashfs. Every tool reads the same warm corpus in one run;
# results are printed side by side with throughput and the ratio to
# cat+b3sum. Not part of ctest.
#
# Usage: bench/import_bench.sh [BUILD_DIR]
#   BENCH_DIR      scratch directory (default /var/tmp/castor-import-bench; needs ~3x the corpus)
#   BENCH_SOURCES  what to copy (default "/usr/lib /usr/share /usr/include")
#   BENCH_RANDOM_MIB  size of the random file (default 1024)
#   BENCH_TOOLS    subset of "castor castor-reimport b3sum-cat b3sum-files restic borg mksquashfs"
#   BENCH_REPS     repetitions of the whole tool list, alternating tools (default 1)
#
# The castor timings are of the whole command, so they include the final
# syncfs that makes the blobs durable before the root is committed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
castor=${CASTOR_BIN:-${1:-$root/build}/src/cli/castor}
[ -x "$castor" ] || { echo "bench: $castor not built" >&2; exit 1; }
bench=${BENCH_DIR:-/var/tmp/castor-import-bench}
sources=${BENCH_SOURCES:-/usr/lib /usr/share /usr/include}
random_mib=${BENCH_RANDOM_MIB:-1024}
tools=${BENCH_TOOLS:-b3sum-cat b3sum-files castor castor-reimport restic borg mksquashfs}
reps=${BENCH_REPS:-1}
threads=$(nproc)

mkdir -p "$bench"
corpus=$bench/corpus
out=$bench/out
# Outputs are moved aside between runs (a rename is instant) and deleted at
# the end: unlinking a 150k-file store can take minutes on a busy disk, and
# for about 5 minutes after a big delete ext4 allocates new inodes slowly
# (its allocator skips recently deleted inodes one by one), which would
# penalise whichever tool runs next. So do not run the benchmark within 5
# minutes of deleting a big tree on the same filesystem either.
ntrash=0
fresh_out() {
  if [ -e "$out" ]; then mv "$out" "$bench/trash.$((ntrash++))"; fi
  mkdir -p "$out"
}
# Parallel unlinks: with the `discard` mount option every unlink waits for
# its discard, so a sequential rm of a 140k-file store takes many minutes.
remove_tree() {
  [ -e "$1" ] || return 0
  find "$1" -type f -print0 | xargs -0 -r -P 16 -n 500 rm -f
  rm -rf "$1"
}
cleanup() { for d in "$out" "$bench"/trash.*; do remove_tree "$d"; done; }
trap cleanup EXIT

if [ ! -f "$corpus/.complete" ]; then
  echo "== building the corpus in $corpus (cp -a $sources, ${random_mib} MiB random)" >&2
  rm -rf "$corpus"
  mkdir -p "$corpus"
  for s in $sources; do
    mkdir -p "$corpus$(dirname "$s")"
    cp -a "$s" "$corpus$s" 2>/dev/null || true   # unreadable /proc-like oddities: skipped
  done
  # Special files cannot be imported by design (castor) and differ between tools.
  find "$corpus" \( -type p -o -type s -o -type b -o -type c \) -delete
  head -c "$((random_mib * 1024 * 1024))" /dev/urandom > "$corpus/random.bin"
  touch "$corpus/.complete"
fi
files=$(find "$corpus" -type f | wc -l)
dirs=$(find "$corpus" -type d | wc -l)
links=$(find "$corpus" -type l | wc -l)
bytes=$(find "$corpus" -type f -printf '%s\n' | awk '{s+=$1} END {printf "%.0f", s}')
echo "corpus: $files files, $dirs directories, $links symlinks, $bytes bytes ($((bytes / 1024 / 1024)) MiB)"
echo "machine: $(nproc) cores, load before: $(cut -d' ' -f1-3 /proc/loadavg)"

# Warm the page cache so every tool sees the same (cached) input.
find "$corpus" -type f -print0 | xargs -0 cat > /dev/null

declare -A secs
run() {  # run NAME CMD... : wall-clock seconds of CMD into secs[NAME]
  local name=$1 keep=${KEEP_OUT:-}; shift
  [ -n "$keep" ] || fresh_out
  sync
  local load; load=$(cut -d' ' -f1 /proc/loadavg)
  local t0 t1
  t0=$(date +%s.%N)
  if ! "$@" > "$bench/$name.log" 2>&1; then
    echo "$name: FAILED (see $bench/$name.log)" >&2
    secs[$name]=nan
    return
  fi
  t1=$(date +%s.%N)
  secs[$name]=$(echo "$t1 - $t0" | bc -l)
  printf '%-16s %8.2f s   (load %s at start)\n' "$name" "${secs[$name]}" "$load"
}

declare -A all
for rep in $(seq "$reps"); do
[ "$reps" -gt 1 ] && echo "-- repetition $rep (load $(cut -d' ' -f1-3 /proc/loadavg))"
for tool in $tools; do
  case $tool in
    b3sum-cat)
      run b3sum-cat sh -c "cd '$corpus' && find . -type f -print0 | xargs -0 cat | b3sum --num-threads $threads" ;;
    b3sum-files)
      run b3sum-files sh -c "cd '$corpus' && find . -type f -print0 | xargs -0 -P $threads -n 256 b3sum --num-threads 1 > /dev/null" ;;
    castor)
      run castor "$castor" import --store "$out/store" --name corpus "$corpus"
      cp "$bench/castor.log" "$bench/castor-first.log" ;;
    castor-reimport)
      # Into the store of the castor run (or a fresh one): every blob is
      # present already, nothing is written.
      if [ ! -d "$out/store" ]; then
        fresh_out
        "$castor" import --store "$out/store" --name corpus "$corpus" > /dev/null
      fi
      KEEP_OUT=1 run castor-reimport "$castor" import --store "$out/store" --name again "$corpus" ;;
    restic)
      export RESTIC_PASSWORD=bench
      run restic sh -c "restic init --repo '$out/restic' -q && restic backup --repo '$out/restic' -q '$corpus'" ;;
    borg)
      export BORG_PASSPHRASE='' BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes
      run borg sh -c "borg init -e none '$out/borg' && borg create '$out/borg::bench' '$corpus'" ;;
    mksquashfs)
      run mksquashfs mksquashfs "$corpus" "$out/image.sqfs" -noappend -no-progress -processors "$threads" ;;
  esac
  all[$tool]="${all[$tool]:-} ${secs[$tool]:-nan}"
done
done

echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
ref=${secs[b3sum-cat]:-}
printf '%-16s %10s %12s %14s\n' tool seconds MiB/s "vs cat+b3sum"
for tool in $tools; do
  s=${secs[$tool]:-nan}
  if [ "$s" = nan ]; then printf '%-16s %10s\n' "$tool" failed; continue; fi
  rate=$(echo "$bytes / 1048576 / $s" | bc -l)
  ratio=""
  [ -n "$ref" ] && [ "$ref" != nan ] && ratio=$(printf '%.2fx' "$(echo "$ref / $s" | bc -l)")
  printf '%-16s %10.2f %12.1f %14s\n' "$tool" "$s" "$rate" "$ratio"
done
echo "(vs cat+b3sum: throughput relative to reading and hashing the same bytes; >1 is faster)"
if [ "$reps" -gt 1 ]; then
  echo "all repetitions (seconds): "
  for tool in $tools; do printf '  %-16s%s\n' "$tool" "${all[$tool]}"; done
fi
[ -f "$bench/castor-first.log" ] && { echo; echo "castor import output:"; cat "$bench/castor-first.log"; }
[ -f "$bench/castor-reimport.log" ] && { echo "castor re-import output:"; cat "$bench/castor-reimport.log"; }
