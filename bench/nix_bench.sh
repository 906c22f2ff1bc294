#!/usr/bin/env bash
# Benchmark: castor as a Nix binary cache, with the real Nix 2.8 (nix-bin,
# as root, chroot stores in a temp dir). Not part of ctest.
#
#   bench/nix_bench.sh [DIR...]   (default: /usr/share/{zoneinfo,i18n,perl})
#
# Each DIR becomes a store path (nix-store --add); one more path refers to
# all of them, so the closure is DIRs + 1 paths. Rows (seconds, wall clock):
#   upload         nix copy --to http://castor-serve?compression=zstd (Nix
#                  compresses, castor imports the NARs)
#   subst castor   nix copy --from castor nix serve into an empty store
#   subst cst zstd the same with castor nix serve --compression zstd
#   subst file     nix copy --from file:// cache Nix wrote (compression=none)
#   subst file xz  the same from a cache with compression=xz (Nix's default)
#   dump castor    castor nix dump of the largest path > /dev/null (best of 3)
#   dump nix       nix store dump-path of the same path > /dev/null (best of 3)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
castor=${CASTOR:-$root/build/src/cli/castor}
dirs=("$@")
[ ${#dirs[@]} -gt 0 ] || dirs=(/usr/share/zoneinfo /usr/share/i18n /usr/share/perl)
work=$(mktemp -d /var/tmp/castor-nix-bench.XXXXXX)
spid=
cleanup() {
  set +e
  [ -n "$spid" ] && kill -TERM "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
export NIX_CONFIG=$'build-users-group =\nexperimental-features = nix-command\nsubstituters =\n'
export XDG_CACHE_HOME=$work/xdg-cache
now() { date +%s.%N; }
secs() { echo "scale=3; ($2 - $1) / 1" | bc; }
row() { printf '%-14s %8s s\n' "$1" "$2"; }

src=$work/nix-src
paths=()
for d in "${dirs[@]}"; do paths+=("$(nix-store --store "$src" --add "$d")"); done
expr="builtins.toFile \"closure.txt\" \"${paths[*]/#/\${builtins.storePath \"}\""
expr=${expr// \$\{/\"\} \$\{}
expr="${expr%\"}\"}\""
top=$(nix-instantiate --store "$src" --eval --read-write-mode -E "$expr" | tr -d '"')
files=$(find "$src/nix/store" -type f | wc -l)
bytes=$(du -sb "$src/nix/store" | cut -f1)
echo "closure: $((${#paths[@]} + 1)) paths, $files files, $((bytes >> 20)) MiB" >&2
nix-store --generate-binary-cache-key bench-1 "$work/sk" "$work/pk"
pk=$(cat "$work/pk")

"$castor" nix serve --store "$work/castor" --listen http://127.0.0.1:0 --sign-key "$work/sk" \
  --allow-upload >"$work/serve.out" 2>"$work/serve.err" &
spid=$!
for _ in $(seq 1 500); do grep -q serving "$work/serve.out" && break; sleep 0.02; done
url=$(awk '/serving/ {print $2}' "$work/serve.out")

t0=$(now); nix copy --store "$src" --to "$url?compression=zstd" "$top" 2>>"$work/nix.log"; t1=$(now)
row upload "$(secs "$t0" "$t1")"
trust=(--option trusted-public-keys "$pk" --option require-sigs true)
t0=$(now); nix copy --store "$work/dst1" --from "$url" "${trust[@]}" "$top" 2>>"$work/nix.log"; t1=$(now)
row "subst castor" "$(secs "$t0" "$t1")"
kill -TERM "$spid"; wait "$spid"
"$castor" nix serve --store "$work/castor" --listen http://127.0.0.1:0 --compression zstd \
  --sign-key "$work/sk" >"$work/serve2.out" 2>"$work/serve.err" &
spid=$!
for _ in $(seq 1 500); do grep -q serving "$work/serve2.out" && break; sleep 0.02; done
url=$(awk '/serving/ {print $2}' "$work/serve2.out")
t0=$(now); nix copy --store "$work/dst4" --from "$url" "${trust[@]}" "$top" 2>>"$work/nix.log"; t1=$(now)
row "subst cst zstd" "$(secs "$t0" "$t1")"

nix store sign --store "$src" --key-file "$work/sk" --recursive "$top"
nix copy --store "$src" --to "file://$work/cache-none?compression=none" "$top" 2>>"$work/nix.log"
nix copy --store "$src" --to "file://$work/cache-xz?compression=xz" "$top" 2>>"$work/nix.log"
t0=$(now); nix copy --store "$work/dst2" --from "file://$work/cache-none" "${trust[@]}" "$top" 2>>"$work/nix.log"; t1=$(now)
row "subst file" "$(secs "$t0" "$t1")"
t0=$(now); nix copy --store "$work/dst3" --from "file://$work/cache-xz" "${trust[@]}" "$top" 2>>"$work/nix.log"; t1=$(now)
row "subst file xz" "$(secs "$t0" "$t1")"

biggest=$(for p in "${paths[@]}"; do echo "$(du -sb "$src$p" | cut -f1) $p"; done | sort -n | tail -1 | cut -d' ' -f2)
cmp <("$castor" nix dump --store "$work/castor" "$biggest") <(nix store dump-path --store "$src" "$biggest")
best() {
  local b=
  for _ in 1 2 3; do
    local t0 t1 d
    t0=$(now); "$@" >/dev/null; t1=$(now); d=$(secs "$t0" "$t1")
    if [ -z "$b" ] || [ "$(echo "$d < $b" | bc)" = 1 ]; then b=$d; fi
  done
  echo "$b"
}
echo "dump: $biggest ($(( $(du -sb "$src$biggest" | cut -f1) >> 20 )) MiB)" >&2
row "dump castor" "$(best "$castor" nix dump --store "$work/castor" "$biggest")"
row "dump nix" "$(best nix store dump-path --store "$src" "$biggest")"
